"""Errors that reach the user. Each names the file (or command) and the field that was wrong."""

from __future__ import annotations


class FrontsideError(Exception):
    """Base of every error the CLI reports as a one-line message instead of a traceback."""


class InputFormatError(FrontsideError, ValueError):
    """A file the user gave does not have the layout we expect.

    The message names the file and the key or element: `"BFM.mat: key 'shapePC' has shape (9, 4), expected (3N, K) with 3N = 12"`.
    """

    def __init__(self, path: object, field: str, problem: str):
        self.path = str(path)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}: {field}: {problem}")


class ExternalToolError(FrontsideError, RuntimeError):
    """An external program (FaceGen's fg3) was missing, failed, timed out or did not write its output."""


class DataIntegrityError(FrontsideError, ValueError):
    """A shard or checkpoint does not match its manifest, or is truncated."""
