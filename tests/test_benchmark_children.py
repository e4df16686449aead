"""`benchmarks/generate.py` runs each configuration in a child process. A child that crashes or hangs must end
the benchmark's wait at once with a message naming it, and leave no process behind: a `pyrender-rebuild` child
once segfaulted in Mesa and its orphaned Prefect server kept the benchmark's pipe open until killed by hand.

The child here is the benchmark's real child, made to crash by a `sitecustomize` on its PYTHONPATH that first
starts a grandchild (`sleep`, holding the child's stdout and stderr as a Prefect server would) and writes its pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses

ROOT = Path(__file__).resolve().parents[1]

CRASHING_CHILD = """
import os, signal, subprocess, sys, time
if "--child" in open("/proc/self/cmdline", "rb").read().decode().split("\\0"):  # the child, not the benchmark
    grandchild = subprocess.Popen(["sleep", "600"])  # inherits stdout and stderr
    with open(os.environ["GRANDCHILD_PID_FILE"], "w") as fh:
        fh.write(str(grandchild.pid))
    print("child: about to end badly", file=sys.stderr, flush=True)
    mode = os.environ["CHILD_MODE"]
    if mode == "abort":
        os.abort()
    elif mode == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    else:
        time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("mode,extra,expected", [
    ("abort", (), "crashed (SIGABRT)"),
    ("segv", (), "crashed (SIGSEGV)"),
    ("hang", ("--child-timeout", "5"), "did not finish within 5 s"),
])
def test_a_crashed_or_hung_child_ends_the_benchmark_and_leaves_no_process(tmp_path, mode, extra, expected):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(CRASHING_CHILD)
    pid_file = tmp_path / "grandchild.pid"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}", "CHILD_MODE": mode,
           "GRANDCHILD_PID_FILE": str(pid_file)}
    log = tmp_path / "benchmark.log"
    with log.open("wb") as out:
        bench = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--quick", *extra],
                                 stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # liveness, not speed: the benchmark waited forever before
        while bench.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bench.poll() is not None, f"the benchmark still waits 120 s after its child ended\n{log.read_text()}"
        text = log.read_text()
        assert bench.returncode == 1, text
        lines = text.splitlines()
        assert "Traceback" not in text and expected in lines[0] and "bare pyrender-rebuild" in lines[0], text
        assert "child: about to end badly" in text  # the child's stderr, for the reader
        grandchild = int(pid_file.read_text())
        assert not _running(grandchild), "the child's grandchild outlived the benchmark"
    finally:
        for pid in [bench.pid, int(pid_file.read_text()) if pid_file.exists() else 0]:
            if pid and _running(pid):
                os.kill(pid, signal.SIGKILL)
