"""Shared bits of the benchmark scripts: run from the repo root as `python benchmarks/NAME.py`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("DO_NOT_TRACK", "1")


def median_ms(fn, repeats: int = 20, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return 1000.0 * times[len(times) // 2]


def emit(result: dict) -> None:
    print(json.dumps(result, indent=2))


class ChildFailed(RuntimeError):
    """A benchmark's child process exited non-zero, died of a signal or ran past its time."""


def run_child(argv: list[str], *, name: str, env: dict | None = None, timeout: float | None = None,
              grace: float = 5.0) -> str:
    """The stdout of `argv`, run in a session (process group) of its own; `ChildFailed` naming it (`name`), how
    it ended and the end of its stderr when it exits non-zero, crashes, or is still running after `timeout`
    seconds (then it is stopped).

    Its output goes to files, not pipes, so nothing it leaves running (a Prefect server holds its parent's
    stdout) can keep this wait open; and when it ends, however it ends (or this process is interrupted), what is
    left of its process group is stopped: SIGTERM, then SIGKILL after `grace` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                 start_new_session=True)
        code = None
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            stop_group(child.pid, grace)
            child.wait()
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if code == 0:
        return stdout
    if code is None:
        how = f"did not finish within {timeout:g} s and was stopped"
    elif code < 0:
        how = f"crashed ({signal.Signals(-code).name}) after {seconds:.1f} s"
    else:
        how = f"failed (exit status {code}) after {seconds:.1f} s"
    tail = stderr[-3000:].rstrip()
    raise ChildFailed(f"child {name!r} {how}; nothing of it is left running. "
                      + (f"The end of its stderr:\n{tail}" if tail else "It wrote nothing on stderr."))


def _group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes in process group `pgid`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def stop_group(pgid: int, grace: float = 5.0) -> None:
    """Stop every process of group `pgid`: SIGTERM, then SIGKILL to those still running after `grace` s."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
