"""Every file frontside writes goes through `write_atomic`: local paths and fsspec URLs alike.

The rule (ARCHITECTURE.md, "Atomic writes"): write to `.<name>.tmp-<random>` in the target's folder, flush it to
disk, then rename it into place. A reader never sees half a file, two writers never share a temp file, and a
crash or a SIGKILL leaves at most a hidden temp file, which `remove_stale_temps` recognises by its name.
Floor 0: imports nothing of frontside's but errors.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import secrets
import shutil
from pathlib import Path

TEMP_MARK = ".tmp-"
# `.<target>.tmp-<token>`: ours, and the older writers' (uuid hex, mkstemp's 8 characters, a pid)
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.tmp-[A-Za-z0-9_]+$")


def cache_root() -> Path:
    """frontside's cache folder: $FRONTSIDE_CACHE, else ~/.cache/frontside (the built-in face model, shards read
    from URLs, the shipped networks' checkpoints)."""
    return Path(os.environ.get("FRONTSIDE_CACHE") or Path.home() / ".cache" / "frontside")


def is_url(location: str | os.PathLike) -> bool:
    return "://" in str(location)


def join(root: str | os.PathLike, name: str) -> str:
    """`root/name` for local paths and URLs alike."""
    return posixpath.join(str(root).rstrip("/"), name) if is_url(root) else str(Path(root) / name)


def url_to_fs(url: str | os.PathLike):
    """(filesystem, path) of a local path or fsspec URL."""
    import fsspec

    if str(url).startswith(("http://", "https://")):
        http_without_aiohttp()
    return fsspec.core.url_to_fs(str(url))


def http_without_aiohttp() -> None:
    """fsspec's own HTTP filesystem needs aiohttp; where it is not installed, fsspec's blocking one (requests)
    serves http:// and https:// instead (reads, sizes and listings alike)."""
    import importlib.util

    if importlib.util.find_spec("aiohttp") is None:
        import fsspec.implementations.http_sync  # noqa: F401  (importing it registers it for http and https)


def temp_name(name: str) -> str:
    """A fresh temp file name for target `name`: `.<name>.tmp-<16 random hex digits>`."""
    return f".{name}{TEMP_MARK}{secrets.token_hex(8)}"


def write_atomic(target: str | os.PathLike, data: bytes | str) -> str | Path:
    """Write `data` (str as UTF-8) to `target` atomically; returns `target` (a Path when given one).

    Local: the temp file is created with mode 0666 minus the umask (the folder's normal permissions, unlike
    mkstemp's 0600), fsynced, renamed with one rename(2), and the folder is fsynced so the rename survives a
    power cut. URLs: written through fsspec and moved into place (as atomic as the store's move). Missing
    parent folders are created. On any failure the temp file is removed and the error re-raised.
    """
    payload = data.encode() if isinstance(data, str) else bytes(data)
    if is_url(target):
        _write_url(str(target), payload)
        return str(target)
    return _write_local(target, lambda fh: fh.write(payload))


def copy_atomic(source, target: str | os.PathLike) -> Path:
    """Copy the binary file object `source` (read in 1 MiB pieces, never whole) to the local file `target`
    atomically, as `write_atomic` writes: what a cache fetching a large file over a URL needs."""
    return Path(_write_local(Path(target), lambda fh: shutil.copyfileobj(source, fh, 1 << 20)))


def _write_local(target: str | os.PathLike, write) -> str | Path:
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name(path.name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # one rename(2): atomic, and it refuses to move a file *into* a folder of the target's name
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path if isinstance(target, os.PathLike) else str(target)


def _write_url(url: str, payload: bytes) -> None:
    fs, path = url_to_fs(url)
    parent = posixpath.dirname(path)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = posixpath.join(parent, temp_name(posixpath.basename(path)))
    try:
        with fs.open(tmp, "wb") as fh:
            fh.write(payload)
        fs.mv(tmp, path)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except OSError:
            pass  # the original error matters more than a leftover hidden temp file
        raise


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # some filesystems cannot open a folder for reading; the rename itself is done
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_temp_name(name: str) -> bool:
    """True for the hidden temp files `write_atomic` (and frontside's earlier writers) leave behind."""
    return _TEMP_NAME.match(name) is not None


def remove_stale_temps(folder: str | os.PathLike) -> list[str]:
    """Delete the temp files a killed writer left in `folder` (not in subfolders); returns their names.

    Only call it while no other writer works in `folder`: a live writer's temp file looks the same.
    """
    fs, path = url_to_fs(folder)
    if not fs.isdir(path):
        return []
    removed = []
    for entry in fs.ls(path, detail=False):
        name = posixpath.basename(str(entry).rstrip("/"))
        if is_temp_name(name) and fs.isfile(entry):
            fs.rm(entry)
            removed.append(name)
    return sorted(removed)


def read_bytes(url: str | os.PathLike) -> bytes:
    fs, path = url_to_fs(url)
    with fs.open(path, "rb") as fh:
        return fh.read()


def file_sha256(url: str | os.PathLike) -> str | None:
    """sha256 of a file, or None when it does not exist."""
    fs, path = url_to_fs(url)
    if not fs.isfile(path):
        return None
    h = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_digest_memo: dict[tuple, str] = {}


def files_digest(root: str | os.PathLike, paths: list[Path]) -> dict:
    """What a set of input files holds: {"files": n, "bytes": total, "sha256": digest of (relative name,
    size, sha256 of content) of each, in sorted order}. Content hashes are remembered per (path, size,
    mtime), so checking the same folder twice in one process reads it once."""
    root = Path(root)
    outer = hashlib.sha256()
    total = 0
    for p in sorted(paths):
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _digest_memo:
            _digest_memo[key] = file_sha256(p) or ""
        rel = p.relative_to(root).as_posix() if p.is_relative_to(root) else p.name
        outer.update(f"{rel}\0{st.st_size}\0{_digest_memo[key]}\n".encode())
        total += st.st_size
    return {"files": len(paths), "bytes": total, "sha256": outer.hexdigest()}
