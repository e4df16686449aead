"""One writer per dataset folder: `.frontside.lock`, held for a whole run.

Local folders use flock(2) on the lock file, which the kernel drops when its holder dies however it dies, so a
lock left by a SIGKILL is recognised as stale simply by being unlocked; the file's content (pid, host, start
time, command) only names the holder in the error. On fsspec URLs (no flock) the file itself is the lock: it
is stale when it names this host and a pid that no longer runs; a holder on another host is reported.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from frontside.errors import FolderInUseError
from frontside.io import is_url, join, read_bytes, url_to_fs, write_atomic

LOCK_NAME = ".frontside.lock"


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv)[:300]}


def _describe(url: str, owner: dict | None) -> str:
    who = (f"pid {owner.get('pid')} on host {owner.get('host')}, started {owner.get('started')}"
           if owner else "a process that left no details")
    return (f"{url}: another run ({who}) is writing this dataset; wait for it to finish or stop it "
            f"(a lock whose process has died is taken over by the next run)")


def _read_owner(url: str) -> dict | None:
    try:
        owner = json.loads(read_bytes(url).decode())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


class FolderLock:
    """`with FolderLock(out):` one run at a time in `out` (created if missing); FolderInUseError otherwise."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = str(folder)
        self.url = join(self.folder, LOCK_NAME)
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if is_url(self.folder):
            self._acquire_url()
            return
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.url, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FolderInUseError(_describe(self.url, _read_owner(self.url))) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.url).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder we waited on unlinked the file as it released it: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(_owner()) + "\n").encode())
        os.fsync(fd)
        self._fd = fd

    def _acquire_url(self) -> None:
        fs, path = url_to_fs(self.url)
        if fs.exists(path):
            owner = _read_owner(self.url)
            stale = owner is not None and owner.get("host") == socket.gethostname() and not _pid_alive(owner.get("pid"))
            if not stale:
                raise FolderInUseError(_describe(self.url, owner))
        write_atomic(self.url, json.dumps(_owner()) + "\n")

    def release(self) -> None:
        if is_url(self.folder):
            fs, path = url_to_fs(self.url)
            if fs.exists(path):
                fs.rm(path)
            return
        if self._fd is None:
            return
        try:
            os.unlink(self.url)  # while still holding it, so no one locks a file that is about to vanish
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


def lock_holder(folder: str | os.PathLike) -> dict | None:
    """Who holds `folder`'s lock now ({pid, host, started, command}, or {} when it left no details), or None
    when no live run holds it. Takes nothing."""
    url = join(str(folder), LOCK_NAME)
    if is_url(folder):
        fs, path = url_to_fs(url)
        if not fs.exists(path):
            return None
        owner = _read_owner(url) or {}
        alive = owner.get("host") != socket.gethostname() or _pid_alive(owner.get("pid"))
        return owner if alive else None
    try:
        fd = os.open(url, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_owner(url) or {}
    finally:
        os.close(fd)  # closing drops the shared lock we may have taken
    return None


def check_not_in_use(folder: str | os.PathLike) -> None:
    """FolderInUseError when a live run holds `folder`'s lock."""
    owner = lock_holder(folder)
    if owner is not None:
        raise FolderInUseError(_describe(join(str(folder), LOCK_NAME), owner))
