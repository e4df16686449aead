"""Errors that reach the user. Each names the file (or flag) and the field that was wrong.

The command line prints any `FrontsideError` as one line, `frontside <command>: error: <message>`, and exits
with its `exit_code`: 2 when the command line itself is wrong (a flag's value), 1 when an input file, a
dataset or a run is. `one_line` turns any exception into that one line.
"""

from __future__ import annotations


class FrontsideError(Exception):
    """Base of every error the CLI reports as a one-line message instead of a traceback."""

    exit_code = 1


class ParameterError(FrontsideError, ValueError):
    """A flag (CLI) or parameter (flow) has a value no run can use: `"n_faces: must be >= 1, got 0"`.

    `name` is the parameter's name as flows and `TrainConfig`/`GenerateParams` spell it; the CLI shows the
    flag that sets it instead (`--faces`).
    """

    exit_code = 2

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")

    def __reduce__(self):  # so it crosses process boundaries (Dask, DataLoader workers) intact
        return type(self), (self.name, self.problem)


class InputFormatError(FrontsideError, ValueError):
    """A file the user gave does not have the layout we expect.

    The message names the file and the key or element: `"BFM.mat: key 'shapePC' has shape (9, 4), expected (3N, K) with 3N = 12"`.
    """

    def __init__(self, path: object, field: str, problem: str):
        self.path = str(path)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}: {field}: {problem}")

    def __reduce__(self):
        return type(self), (self.path, self.field, self.problem)


class ExternalToolError(FrontsideError, RuntimeError):
    """An external program (FaceGen's fg3) was missing, failed, timed out or did not write its output."""


class DataIntegrityError(FrontsideError, ValueError):
    """A shard, manifest or checkpoint does not match what was recorded, is truncated, or is not ours."""


class FolderInUseError(FrontsideError, RuntimeError):
    """Another live process holds the folder's lock (two writers on one dataset)."""


_WORKER_TRACEBACK = "Original Traceback (most recent call last):"


def one_line(exc: BaseException) -> str:
    """The message of `exc` as one line, without the traceback a DataLoader worker wraps around it.

    torch re-raises a worker's exception with its traceback in the message; the last line of that traceback
    is the original `module.Class: message`, and the message is what the user needs.
    """
    text = str(exc).strip()
    if _WORKER_TRACEBACK in text:
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        head, sep, message = last.partition(": ")
        text = message if sep and "." in head and " " not in head else last
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    message = "; ".join(lines) if len(lines) <= 4 else "; ".join(lines[:4]) + f"; ... ({len(lines) - 4} more)"
    if isinstance(exc, FrontsideError) or _WORKER_TRACEBACK in str(exc):
        return message
    return f"{type(exc).__name__}: {message}"
