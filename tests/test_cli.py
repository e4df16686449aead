"""The command line as a user meets it: a real subprocess, real files."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "frontside.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_help_lists_the_commands():
    out = _run("--help")
    assert out.returncode == 0
    for command in ("demo", "smoke", "preview", "generate", "convert-300wlp", "train", "evaluate"):
        assert command in out.stdout


@pytest.mark.slow
def test_smoke_writes_a_posmap_picture_and_an_obj(tmp_path):
    out = _run("smoke", "--out", str(tmp_path / "smoke"))
    assert out.returncode == 0, out.stderr
    picture = np.asarray(Image.open(tmp_path / "smoke" / "posmap.png"))
    assert picture.shape == (256, 256, 3) and picture.std() > 20
    obj = (tmp_path / "smoke" / "face.obj").read_text()
    assert obj.count("\nf ") >= 20_000


@pytest.mark.slow
def test_preview_grid(tmp_path):
    out = _run("preview", "--n", "2", "--size", "128", "--out", str(tmp_path / "grid.png"))
    assert out.returncode == 0, out.stderr
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (256, 7 * 128, 3)
    assert len(np.unique(grid[:128, 128:256].reshape(-1, 3), axis=0)) >= 6  # the parts tile shows the parts


@pytest.mark.slow
def test_a_bad_model_spec_is_a_one_line_error(tmp_path):
    out = _run("preview", "--n", "1", "--source", "bfm:/nowhere/BFM.mat", "--out", str(tmp_path / "g.png"))
    assert out.returncode == 1
    assert "BFM.mat" in out.stderr and "Traceback" not in out.stderr


def _server_children(pid: int) -> list[int]:
    """Pids of the uvicorn processes (Prefect's temporary server) whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"uvicorn" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_no_prefect_server_outlives_the_command(tmp_path):
    """SIGTERM: the command exits 143 and stops its server; SIGKILL: the watchdog stops the server."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "prefect-home"),
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    env.pop("PREFECT_SERVER_ANALYTICS_ENABLED", None)  # the command itself must turn telemetry off
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGKILL, -signal.SIGKILL)):
        log = tmp_path / f"{sig.name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "frontside.cli", "generate", "--faces", "40", "--shard-size",
                                     "4", "--workers", "1", "--out", str(tmp_path / sig.name)], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300  # checks, imports and the server's start-up, on a busy machine
            while not (servers := _server_children(proc.pid)) and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
            assert servers, f"no server started\n{log.read_text()}"
            while not list((tmp_path / sig.name).glob("shard-*.parquet")) and time.monotonic() < deadline:
                time.sleep(0.1)  # the flow is running
            os.kill(proc.pid, sig)
            assert proc.wait(timeout=60) == code, log.read_text()
            deadline = time.monotonic() + 20
            while any(_running(s) for s in servers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(_running(s) for s in servers), f"server {servers} outlived the command ({sig.name})"
            assert "telemetry" not in log.read_text().lower()
        finally:
            for pid in [proc.pid, *_server_children(proc.pid)]:
                if _running(pid):
                    os.kill(pid, signal.SIGKILL)
    assert "frontside generate: terminated" in (tmp_path / "SIGTERM.log").read_text()


@pytest.mark.slow
def test_debug_shows_the_traceback_and_a_usage_error_is_one_line(tmp_path):
    plain = _run("generate", "--faces", "0", "--out", str(tmp_path / "x"))
    assert plain.returncode == 2 and plain.stderr == "frontside generate: error: --faces: must be >= 1, got 0\n"
    debug = _run("--debug", "generate", "--faces", "0", "--out", str(tmp_path / "x"))
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ParameterError: n_faces" in debug.stderr
    usage = _run("train", "--epochs", "x")
    assert usage.returncode == 2 and len(usage.stderr.splitlines()) == 1, usage.stderr


@pytest.mark.slow
def test_info_summarises_and_validates_every_shard(tmp_path, tiny_dataset):
    import shutil

    out = _run("info", tiny_dataset)
    assert out.returncode == 0, out.stderr
    assert "12 faces in 3 shards" in out.stdout and "3 of 3 valid" in out.stdout and "256 x 256" in out.stdout
    assert "front_segmentation" in out.stdout and "front_depth" in out.stdout
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    data = (copy / "shard-00001.parquet").read_bytes()
    (copy / "shard-00001.parquet").write_bytes(data[:1000])
    out = _run("info", str(copy))
    assert out.returncode == 1 and "2 of 3 valid" in out.stdout and "shard-00001.parquet" in out.stdout


@pytest.mark.slow
def test_generate_refuses_a_size_that_is_not_a_multiple_of_32(tmp_path):
    out = _run("generate", "--faces", "1", "--out", str(tmp_path / "d"), "--size", "100")
    # a flag's value: exit 2, the one line names the flag, nothing written
    assert out.returncode == 2 and out.stderr.startswith("frontside generate: error: --size: ")
    assert "multiple of 32" in out.stderr and len(out.stderr.splitlines()) == 1
    assert "Traceback" not in out.stderr and not (tmp_path / "d").exists()


def test_flows_on_the_commands_own_server_send_no_heartbeats():
    """The engine's heartbeat thread held each flow run's end up to 1 s; a server that dies with the command
    has no use for heartbeats. Outside the block Prefect's setting is back."""
    from prefect.settings import get_current_settings

    from frontside.cli.prefect_server import ephemeral_run_settings

    before = get_current_settings().flows.heartbeat_frequency
    with ephemeral_run_settings():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == before and before is not None


def test_library_notes_show_once_and_run_failures_stay_off_the_console(capfd):
    """A command shows the package's notes on stderr once (Prefect's console handler on the root logger printed
    each a second time), and while its flow runs, Prefect's console shows no task or flow failure: no retry notice,
    traceback or failed state (the command says it in one line); everything else, and all of it after the block."""
    import logging

    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    from frontside.cli import show_library_logs
    from frontside.cli.prefect_server import failures_off_the_console

    ensure_logging_setup()  # as in every command that runs a flow
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    assert consoles
    show_library_logs()
    # a command starts with its handlers on the process's stderr; in a test session an earlier test (a flow, a
    # command) may have set them up on that test's captured stream: point them at file descriptor 2, which capfd reads
    for console in consoles:
        console.console.file = sys.__stderr__
    for handler in logging.getLogger("frontside").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.__stderr__
    show_library_logs()  # idempotent: one handler
    logging.getLogger("frontside.store.driver").info("note: a note for the user")
    try:
        raise OSError(28, "No space left on device")
    except OSError:
        failed = sys.exc_info()

    def record(name, level, message, exc_info=None):  # as Prefect's run loggers make them
        made = logging.LogRecord(name, level, __file__, 1, message, None, exc_info)
        made.flow_run_id, made.flow_run_name = "f", "a-run"
        made.task_run_id, made.task_run_name = "t", "synthetic-shard-00000"
        return made

    shown = [record("prefect.flow_runs", logging.INFO, "Beginning flow run 'a-run' for flow 'generate-dataset'"),
             record("prefect.task_runs", logging.INFO, "Finished in state Completed()"),
             record("prefect.server", logging.ERROR, "not a run's record")]
    hidden = [record("prefect.task_runs", logging.INFO, "Task run failed with exception: OSError(28) - Retry 1/2 "
                                                          "will start 1 second(s) from now"),
              record("prefect.task_runs", logging.ERROR, "Task run failed with exception: OSError(28) - Retries are "
                                                           "exhausted", failed),
              record("prefect.task_runs", logging.ERROR, "Finished in state Failed('Task run encountered ...')"),
              record("prefect.flow_runs", logging.ERROR, "Encountered exception during execution: X", failed),
              record("prefect.flow_runs", logging.INFO, "Finished in state Failed('Flow run encountered ...')")]
    with failures_off_the_console():
        for r in shown + hidden:
            for console in consoles:
                console.handle(r)
    for console in consoles:
        console.handle(record("prefect.task_runs", logging.ERROR, "Task run failed after the block"))
    err = capfd.readouterr().err
    assert err.count("note: a note for the user") == 1
    assert all(r.getMessage() in err for r in shown) and "Task run failed after the block" in err
    assert not any(r.getMessage() in err for r in hidden) and "Traceback" not in err


@pytest.mark.parametrize("args", [("train", "--data", "/nowhere/data", "--out", "{tmp}/run"),
                                  ("evaluate", "--checkpoint", "/nowhere/best.pt", "--data", "/nowhere/test",
                                   "--out", "{tmp}/report")])
def test_a_bad_path_is_answered_before_torch_is_imported(tmp_path, args):
    """torch's import is ~2 s here: a missing dataset or checkpoint must not wait for it."""
    code = ("import sys\nfrom frontside.cli import main\nsys.argv = ['frontside', *sys.argv[1:]]\ntry:\n"
            "    code = main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print('exit', code, 'torch', 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, *(a.format(tmp=tmp_path) for a in args)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert "/nowhere/" in done.stderr and done.stdout.split() == ["exit", "1", "torch", "False"], done
