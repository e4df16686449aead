"""Checks every command and flow runs on its parameters before any work: numbers, output locations, input
files, images, addresses. Each failure is one `ParameterError` (a value no run can use; named by parameter)
or `InputFormatError` (a file that is not what it should be; named by file).

Floor 0 and quick to import: the CLI calls these before Prefect, torch or a renderer is loaded.
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
import socket
from pathlib import Path

from frontside.errors import InputFormatError, ParameterError

# Images we open: at most 64 megapixels (a 8k x 8k photo); anything bigger is refused before it is decoded
MAX_IMAGE_PIXELS = 64_000_000
# A dataset's image side: one 4096 x 4096 pair holds ~200 MB of position map and depth already
MAX_IMAGE_SIDE = 4096


def integer(name: str, value: object, minimum: int | None = None, maximum: int | None = None,
            optional: bool = False) -> int | None:
    """`value` as an int within [minimum, maximum]; None allowed when `optional`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(name, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"must be <= {maximum}, got {value}")
    return value


def positive_number(name: str, value: object, maximum: float | None = None) -> float:
    """`value` as a finite float > 0 (and <= maximum)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(name, f"must be a finite number > 0, got {value}")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"must be <= {maximum:g}, got {value:g}")
    return float(value)


def finite_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(name, f"must be a finite number, got {value!r}")
    return float(value)


def one_of(name: str, value: object, choices: list | tuple) -> object:
    if value not in choices:
        raise ParameterError(name, f"must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def text(name: str, value: object, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ParameterError(name, f"must be a non-empty string, got {value!r}")
    return value


def image_side(name: str, value: object) -> int:
    """The side of a dataset's square images and position maps: a multiple of 32 (the networks halve it five
    times) from 64 to `MAX_IMAGE_SIDE`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 64 <= value <= MAX_IMAGE_SIDE \
            or value % 32:
        raise ParameterError(name, f"must be a multiple of 32 from 64 to {MAX_IMAGE_SIDE}, got {value!r}")
    return int(value)


_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool}


def by_annotation(name: str, value: object, annotation: object) -> object:
    """`value` if it fits a simple annotation ("int", "str | None", "list[str]", ...); an annotation this does
    not understand accepts anything."""
    if annotation is None:
        return value
    annotation = str(annotation).replace(" ", "")
    parts = annotation.split("|")
    if value is None and ("None" in parts or annotation.startswith("Optional[")):
        return value
    kinds = tuple(_TYPES[p] for p in parts if p in _TYPES)
    if any(p.startswith("list[") for p in parts):
        kinds += (list, tuple)
    if kinds and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
        raise ParameterError(name, f"expected {annotation}, got {value!r}")
    return value


def values(given: dict, rules: dict, annotations: dict | None = None) -> dict:
    """`given` checked name by name: by its rule `rules[name](name, value) -> value` when it has one, else by
    `annotations[name]`. Returns the checked values (rules may normalise them, e.g. make paths absolute)."""
    annotations = annotations or {}
    return {name: rules[name](name, value) if name in rules else by_annotation(name, value, annotations.get(name))
            for name, value in given.items()}


def record_fields(record: object, rules: dict) -> dict:
    """Every field of a dataclass `record`, checked by `values`: a field without a rule is checked by its
    annotation, so a field added later is never passed unchecked."""
    import dataclasses

    fields = dataclasses.fields(record)
    return values({f.name: getattr(record, f.name) for f in fields}, rules, {f.name: f.type for f in fields})


def task_runner(workers: int, dask_address: str | None = None) -> None:
    """A worker count of at least 1, and a Dask scheduler that answers when one is named."""
    integer("workers", workers, minimum=1)
    address("dask_address", dask_address)


# ------------------------------------------------------------------------------------------ locations

def _protocol(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"


def output_folder(name: str, location: str | os.PathLike, in_process: bool = False) -> str:
    """Check that a folder (local or fsspec URL) can be written, without creating anything; returns the
    location with a local path made absolute.

    in_process: memory:// is allowed (a flow called from Python may hand its result to its caller); from the
    command line it is refused, since the data would vanish when the command ends.
    """
    location = text(name, str(location) if isinstance(location, os.PathLike) else location)
    protocol = _protocol(location)
    if protocol == "file":
        return str(_local_output(name, Path(location.removeprefix("file://")), folder=True))
    _fsspec_protocol(name, location, protocol)
    if protocol == "memory" and not in_process:
        raise ParameterError(name, f"{location}: memory:// lives only inside this process; the data would "
                                   "vanish when the command ends (use a folder or a persistent URL)")
    return location


def output_file(name: str, location: str | os.PathLike) -> Path:
    """Check that a local file can be written at `location` (its folder writable, itself not a folder)."""
    location = text(name, str(location) if isinstance(location, os.PathLike) else location)
    if "://" in location:
        raise ParameterError(name, f"{location}: must be a local file path")
    return _local_output(name, Path(location), folder=False)


def _fsspec_protocol(name: str, location: str, protocol: str) -> None:
    import fsspec
    from fsspec.registry import known_implementations

    from frontside.io import http_without_aiohttp

    if protocol in ("http", "https"):
        http_without_aiohttp()
    if protocol not in fsspec.available_protocols() and protocol not in known_implementations:
        raise ParameterError(name, f"{location}: unknown URL scheme {protocol}:// (fsspec knows file, memory, "
                                   "s3, gcs, az, http, ... )")
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        hint = known_implementations.get(protocol, {}).get("err") or str(exc)
        raise ParameterError(name, f"{location}: {protocol}:// needs a package that is not installed "
                                   f"({hint.splitlines()[0]})") from None


def _local_output(name: str, path: Path, folder: bool) -> Path:
    path = path.expanduser().absolute()
    if path.exists():
        if folder and not path.is_dir():
            raise ParameterError(name, f"{path} is a file, not a folder")
        if not folder and path.is_dir():
            raise ParameterError(name, f"{path} is a folder, not a file")
    # the nearest existing folder must be a folder we can create files in
    probe_in = path if folder and path.is_dir() else path.parent
    while not probe_in.exists():
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise ParameterError(name, f"{path}: {probe_in} is a file, so no folder can be made under it")
    _probe_writable(name, path, probe_in)
    return path


def _probe_writable(name: str, target: Path, folder: Path) -> None:
    """Create and delete a hidden file in `folder`: the only check that also holds for root (who passes every
    permission test) on a read-only filesystem."""
    probe = folder / f".frontside-probe-{secrets.token_hex(8)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise ParameterError(name, f"{target}: cannot write in {folder} ({exc.strerror or exc})") from None
    os.unlink(probe)


def input_file(name: str, location: str | os.PathLike) -> Path:
    """An existing, readable, non-empty local file."""
    path = Path(text(name, str(location))).expanduser()
    if not path.exists():
        raise InputFormatError(path, "file", f"does not exist ({name})")
    if path.is_dir():
        raise InputFormatError(path, "file", f"is a folder, expected a file ({name})")
    try:
        with open(path, "rb") as fh:
            if not fh.read(1):
                raise InputFormatError(path, "file", f"is empty ({name})")
    except OSError as exc:
        raise InputFormatError(path, "file", f"cannot be read ({exc.strerror or exc})") from None
    return path


def input_folder(name: str, location: str | os.PathLike) -> Path:
    path = Path(text(name, str(location))).expanduser()
    if not path.exists():
        raise InputFormatError(path, "folder", f"does not exist ({name})")
    if not path.is_dir():
        raise InputFormatError(path, "folder", f"is a file, expected a folder ({name})")
    return path


def image_size(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) of an image file that decodes completely and has at most `max_pixels` pixels.

    The size is read from the header and checked before any pixel is decoded, so a "decompression bomb"
    (a tiny file declaring a huge image) is refused without allocating it.
    """
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise InputFormatError(path, "image", f"declares {width} x {height} pixels, more than the "
                                                      f"{max_pixels:,} allowed")
            im.load()
    except InputFormatError:
        raise
    except Image.DecompressionBombError:
        raise InputFormatError(path, "image", f"declares more than {max_pixels:,} pixels (a decompression "
                                              "bomb?)") from None
    except FileNotFoundError:
        raise InputFormatError(path, "file", "does not exist") from None
    except Exception as exc:  # PIL raises many unrelated types for truncated or foreign files
        raise InputFormatError(path, "image", f"cannot be decoded ({type(exc).__name__}: "
                                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return width, height


def address(name: str, value: str | None, timeout: float = 2.0) -> str | None:
    """A scheduler address `tcp://host:port` that accepts a connection within `timeout` seconds."""
    if value is None:
        return None
    value = text(name, value)
    scheme, sep, rest = value.partition("://")
    host, colon, port = (rest if sep else value).rpartition(":")
    if (sep and scheme not in ("tcp", "tls")) or not colon or not host or not port.isdigit():
        raise ParameterError(name, f"{value!r} is not an address like tcp://host:8786")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ParameterError(name, f"{value}: no scheduler answers there ({exc.strerror or exc})") from None
    return value
