"""Prefect's ephemeral API server, started by the command itself and never left behind.

Prefect starts its temporary server (uvicorn, ~230 MB) as a child process and stops it from an atexit
handler, which a SIGKILL (or an unhandled SIGTERM) never runs: the server then lingers for minutes. So a
command that runs flows starts the server first, from its main thread, together with a watchdog process that
stops the server as soon as the command's process is gone, however it ended.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

# Polls its parent (the command) and the server; when the parent is gone: SIGTERM the server, SIGKILL after 5 s.
WATCHDOG = """
import os, signal, sys, time
parent, server = int(sys.argv[1]), int(sys.argv[2])
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
while alive(server) and os.getppid() == parent:
    time.sleep(0.25)
if alive(server):
    os.kill(server, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(server):
        os.kill(server, signal.SIGKILL)
"""


@contextmanager
def ephemeral_run_settings() -> Iterator[None]:
    """Prefect settings for flows on a server that lives no longer than this process: no flow-run heartbeats.
    Heartbeats tell a lasting server that a run is still alive (for crash detection); this server dies with the
    command anyway, and the engine's heartbeat thread, which sleeps in steps of 1 s, held the end of every flow
    run up to 1 s (an empty flow took 1.07 s, 0.10 s without)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


class RunFailuresOffTheConsole(logging.Filter):
    """Keeps off the console what Prefect's engines log about a failing task or flow run: its retry notices,
    tracebacks and failed states (a disk filling up mid-`generate` printed a traceback for each failed shard and
    one for the flow above the command's line). The command reports every failure itself, as one line; Prefect's
    API, and so its UI, still receives every record."""

    RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")
    # a retry notice (INFO, the exception's repr), and a flow's failed state (INFO)
    FAILURES = ("Task run failed", "Finished in state Failed", "Finished in state Crashed")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.RUN_LOGGERS):
            return True
        message = str(record.msg)
        failure = record.exc_info or record.levelno >= logging.ERROR or message.startswith(self.FAILURES)
        return not failure


@contextmanager
def failures_off_the_console() -> Iterator[None]:
    """`RunFailuresOffTheConsole` on Prefect's console handlers for the block (`--debug` leaves them as they are)."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # Prefect installs its console handler on the root logger when it first configures
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    quiet = RunFailuresOffTheConsole()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


@contextmanager
def guarded_server(debug: bool = False) -> Iterator[int | None]:
    """Start the ephemeral server now (when no PREFECT_API_URL names a real one) with its watchdog, and run the
    block under `ephemeral_run_settings`; yields the server's pid, or None when a real server is configured
    (which keeps Prefect's settings as they are). Prefect's own calls then find the server running. Either way
    the console shows no run failures but the command's own line (`failures_off_the_console`), unless `debug`."""
    with ExitStack() as stack:
        if not debug:
            stack.enter_context(failures_off_the_console())
        yield stack.enter_context(_server())


@contextmanager
def _server() -> Iterator[int | None]:
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield None
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    pid = server.server_process.pid
    subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(pid)], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    with ephemeral_run_settings():
        yield pid
