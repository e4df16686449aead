"""End to end on a live Prefect server: the real prefect.yaml deployed, a process worker, the `evaluate` trigger.

A completed run of the `train` deployment must start a run of the `evaluate` deployment (its deployment trigger
on `prefect.flow-run.Completed`), which finds that run's best.pt from its `out` parameter and writes a report.
Everything runs in subprocesses, the way the README tells users to run it: `prefect server start`,
`prefect work-pool create`, `prefect deploy`, `prefect worker start`.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]
SERVER_START_TIMEOUT = 90
TRAIN_TIMEOUT = 180
EVALUATE_APPEAR_TIMEOUT = 60
EVALUATE_TIMEOUT = 240
SCHEDULE_TIMEOUT = 60

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc; the worker starts flow runs in their own sessions)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process, its group and every descendant, wait, then SIGKILL whatever is left."""
    pids = [proc.pid, *_descendants(proc.pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in pids):
            time.sleep(0.2)
        if not any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in pids):
            break
    proc.wait(timeout=timeout)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _tail(path: Path, chars: int = 6000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"--- {path.name} (last {chars} chars) ---\n{text[-chars:]}"


@dataclass
class LiveServer:
    api_url: str
    env: dict[str, str]  # for every child process: the server's API, a private PREFECT_HOME
    logs: Path
    started: list[subprocess.Popen]

    def run(self, *args: str, cwd: Path, timeout: float = 180) -> str:
        """Run a prefect CLI command to completion; fail with its output if it fails."""
        done = subprocess.run([*PREFECT, *args], cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *args: str, cwd: Path) -> Path:
        """Start a long-running prefect CLI command in the background; stopped at teardown. Returns its log."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            self.started.append(subprocess.Popen([*PREFECT, *args], cwd=cwd, env=self.env, stdout=out,
                                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                 start_new_session=True))
        return log


def _child_env(prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), DO_NOT_TRACK="1", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="60",
               PYOPENGL_PLATFORM="egl", PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false",
               PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2")  # schedule the cron's runs within seconds
    return env


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    """`prefect server start` on a free port with its own PREFECT_HOME (and SQLite database); always stopped."""
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = _child_env(tmp_path / "prefect-home")
    server = LiveServer(f"http://127.0.0.1:{port}/api", env, logs, [])
    log = server.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.started[0].poll() is None, f"prefect server exited early\n{_tail(log)}"
            assert time.monotonic() < deadline, f"prefect server not healthy after {SERVER_START_TIMEOUT} s\n{_tail(log)}"
            time.sleep(0.5)
        env["PREFECT_API_URL"] = server.api_url
        yield server
    finally:
        for proc in reversed(server.started):  # worker (and its flow runs) first, the server last
            _stop(proc, timeout=5)  # a fresh clone's worker outlived SIGTERM's 15 s: 31 s of teardown, for nothing


@pytest.fixture
def frontside_home(tmp_path, tiny_dataset) -> Path:
    """What the deployments' `set_working_directory` pull step lands in: prefect.yaml, the package, data/."""
    home = tmp_path / "frontside-home"
    (home / "data").mkdir(parents=True)
    shutil.copyfile(ROOT / "prefect.yaml", home / "prefect.yaml")
    (home / "frontside").symlink_to(ROOT / "frontside", target_is_directory=True)
    for name in ("synthetic", "test"):  # `train` and `evaluate`'s default `data`
        (home / "data" / name).symlink_to(tiny_dataset, target_is_directory=True)
    return home


def _wait_for(what: str, timeout: float, probe: Callable[[], object], explain: Callable[[], str]) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: nothing after {timeout:.0f} s\n{explain()}")
        time.sleep(1)


def test_a_completed_train_run_triggers_the_evaluate_deployment(live_server, frontside_home):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = live_server
    server.env["FRONTSIDE_HOME"] = str(frontside_home)
    server.env["FRONTSIDE_CACHE"] = os.environ["FRONTSIDE_CACHE"]  # the session's built-in model (conftest)
    server.env["PREFECT_WORKER_QUERY_SECONDS"] = "1"  # pick scheduled runs up at once (default 10 s)
    server.run("work-pool", "create", "frontside", "--type", "process", cwd=frontside_home)
    server.run("--no-prompt", "deploy", "--all", cwd=frontside_home)
    server.start("worker", "worker", "start", "--pool", "frontside", cwd=frontside_home)

    def logs() -> str:
        return "\n".join(_tail(server.logs / f"{n}.log") for n in ("worker", "server"))

    with temporary_settings({PREFECT_API_URL: server.api_url}), get_client(sync_client=True) as client:
        evaluate_dep = client.read_deployment_by_name("evaluate-training-run/evaluate")
        triggers = client.read_resource_related_automations(f"prefect.deployment.{evaluate_dep.id}")
        assert len(triggers) == 1, f"expected the evaluate deployment's one trigger, got {triggers}"

        # the weekly regeneration is scheduled (SQLAlchemy 2.1 broke Prefect 3.8.8's scheduler silently)
        generate_dep = client.read_deployment_by_name("generate-dataset-scaled/generate")

        def scheduled_generate_runs():
            return client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[generate_dep.id])))

        scheduled = _wait_for("scheduled runs of the weekly generate deployment", SCHEDULE_TIMEOUT,
                              scheduled_generate_runs, logs)
        for run in scheduled:
            start = run.expected_start_time.astimezone(datetime.UTC)
            assert run.state.is_scheduled() and (start.weekday(), start.hour, start.minute) == (6, 3, 0), start

        # a run's parameters replace the deployment's at the top level: the whole config, three fields changed
        deployed = next(d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
                        if d["name"] == "train")["parameters"]["config"]
        train = run_deployment("train-model/train", timeout=0, parameters={"config": {
            **deployed, "epochs": 1, "max_steps_per_epoch": 1, "batch_size": 4}})

        def final(run_id):
            run = client.read_flow_run(run_id)
            return run if run.state and run.state.is_final() else None

        train = _wait_for("the train run to finish", TRAIN_TIMEOUT, lambda: final(train.id), logs)
        assert train.state.is_completed(), f"train run ended {train.state.name}: {train.state.message}\n{logs()}"
        assert train.parameters["config"]["out"] == "runs/twoview"  # relative: resolved in FRONTSIDE_HOME by the pull step
        assert (frontside_home / "runs" / "twoview" / "best.pt").is_file()

        def evaluate_runs():
            return client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[evaluate_dep.id])))

        appeared = _wait_for("a flow run of the evaluate deployment (its trigger on the train run's "
                             "prefect.flow-run.Completed event)", EVALUATE_APPEAR_TIMEOUT, evaluate_runs, logs)
        assert len(appeared) == 1, [r.name for r in appeared]
        evaluate = appeared[0]
        assert evaluate.parameters["train_flow_run_id"] == f"prefect.flow-run.{train.id}"
        assert evaluate.parameters["data"] == ["data/test"] and evaluate.parameters["out"] == "reports"
        evaluate = _wait_for("the evaluate run to finish", EVALUATE_TIMEOUT, lambda: final(evaluate.id), logs)
        assert evaluate.state.is_completed(), f"evaluate run ended {evaluate.state.name}: " \
                                              f"{evaluate.state.message}\n{logs()}"
        assert len(evaluate_runs()) == 1  # one train run, one evaluation

    report_dir = frontside_home / "reports" / "twoview"
    assert (report_dir / "report.md").is_file() and (report_dir / "ced.png").is_file()
    report = json.loads((report_dir / "report.json").read_text())
    models = {m["name"]: m for m in report["models"]}
    assert "twoview" in models and len(models) == 2, list(models)  # the checkpoint and the mean-face baseline
    assert models["twoview"]["checkpoint"] == "runs/twoview/best.pt"
    for model in models.values():
        assert model["faces"] == 12
        assert math.isfinite(model["mean_nme"]) and model["mean_nme"] >= 0
