"""Data-parallel training in real processes: torchrun's launcher, gloo process groups, SIGKILL. One process
reading two data streams and two processes reading one each make the same batches, so they must train alike;
a run killed mid-epoch must resume to the very weights of a run left alone, and at another process count too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from frontside.learning.checkpoint.reader import read_checkpoint
from frontside.learning.checkpoint.saving import load_checkpoint
from frontside.learning.config import TrainConfig
from frontside.learning.launch import TrainingFailed, train_in_processes
from frontside.learning.trainer import train

pytestmark = pytest.mark.slow  # training runs in processes of their own

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(arch="twoview", width=0.5, input_size=64, batch_size=8, precision="fp32", progress=False, seed=0,
             stream=True, streams=2, patience=100)


def _config(data: str, out: Path, **changes) -> TrainConfig:
    return TrainConfig(**{"data": [data], "out": str(out), **SMALL, **changes})


def _history(run: Path) -> list[dict]:
    return load_checkpoint(run / "last.pt")["history"]


def test_two_processes_train_as_one_on_the_same_global_batch(stream_dataset, tmp_path):
    # one step an epoch, so the history is the curve step by step
    steps = dict(epochs=6, max_steps_per_epoch=1)
    train(_config(stream_dataset, tmp_path / "one", **steps))
    train_in_processes(_config(stream_dataset, tmp_path / "two", nproc=2, **steps))
    one, two = _history(tmp_path / "one"), _history(tmp_path / "two")
    relative = [abs(a["train_loss"] - b["train_loss"]) / a["train_loss"] for a, b in zip(one, two)]
    # measured: step 1 (same weights, batch norm over the global batch) agrees to 1e-7, step 2 (one averaged
    # gradient) to 3e-6 on the data of issue 23 and 1.5e-4 on today's (other backgrounds): Adam's first update
    # moves each weight by about the learning rate whatever its gradient's size, so a near-zero gradient whose
    # rounding differs moves a weight the other way; from then on the run's sensitivity grows any rounding
    # ~20-fold a step, as one process on 1 or 2 threads differs from itself (1e-2 after 10 steps)
    assert relative[0] < 1e-5 and relative[1] < 1e-3, relative
    assert max(relative) < 0.05, relative
    for a, b in zip(one, two):
        assert abs(a["val_loss"] - b["val_loss"]) / a["val_loss"] < 0.05
    assert load_checkpoint(tmp_path / "two" / "last.pt")["config"]["world_size"] == 2


def _rank_pids(parent: int, rank: int) -> list[int]:
    """Processes under `parent` whose environment says they are torch.distributed rank `rank`."""
    found, todo = [], [parent]
    while todo:
        pid = todo.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            todo.append(child)
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RANK={rank}".encode() in environ and b"LOCAL_RANK" in b" ".join(environ):
                found.append(child)
    return found


def _cli(config_flags: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "frontside.cli", "train", "--no-prefect", *config_flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_run_whose_rank_is_killed_mid_epoch_resumes_to_the_same_weights(stream_dataset, tmp_path):
    flags = ["--data", stream_dataset, "--arch", "twoview", "--width", "0.5", "--input-size", "64",
             "--batch-size", "8", "--precision", "fp32", "--seed", "0", "--streams", "2", "--nproc", "2",
             "--epochs", "1", "--save-every", "1"]
    same = dict(nproc=2, epochs=1, save_every=1)
    whole = tmp_path / "whole"
    train_in_processes(_config(stream_dataset, whole, **same))

    killed = tmp_path / "killed"
    run = _cli(flags + ["--out", str(killed)])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None:
        if (killed / "last.pt").is_file():
            try:
                step = read_checkpoint(killed / "last.pt").get("position", {}).get("step", 0)
            except Exception:  # noqa: BLE001  (replaced while read: read it again)
                step = 0
            if step >= 2:
                for pid in _rank_pids(run.pid, 1):
                    os.kill(pid, signal.SIGKILL)
                break
        time.sleep(0.02)
    output = run.communicate(timeout=120)[0]
    assert run.returncode == 1, output  # the run failed, naming how, and said --resume continues it
    assert "--resume continues" in output, output
    position = read_checkpoint(killed / "last.pt")["position"]
    assert position["step"] >= 2 and read_checkpoint(killed / "last.pt")["epoch"] == 0  # mid-epoch 1

    at_one = tmp_path / "at-one-process"
    shutil.copytree(killed, at_one)
    train_in_processes(_config(stream_dataset, killed, resume=True, **same))
    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(killed / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]

    # --resume at another process count: one process reads both streams, the batches stay the run's
    result = train(_config(stream_dataset, at_one, epochs=1, save_every=1, resume=True, streams=None))
    state = load_checkpoint(result.last_path)
    assert result.epochs_run == 1 and state["config"]["world_size"] == 1 and state["config"]["data_streams"] == 2
    relative = abs(state["history"][0]["train_loss"] - a["history"][0]["train_loss"]) / a["history"][0]["train_loss"]
    assert relative < 0.05


def test_a_failing_training_process_reports_its_own_error(stream_dataset, tmp_path):
    # a batch that two streams cannot share is refused before any process starts ...
    from frontside.errors import ParameterError
    from frontside.learning.runs import check_training

    with pytest.raises(ParameterError, match="batch_size"):
        check_training(_config(stream_dataset, tmp_path / "odd", batch_size=7, nproc=2))
    # ... and an error inside a rank reaches the caller as that rank's one line
    with pytest.raises(TrainingFailed, match="larger than the data"):
        train_in_processes(_config(stream_dataset, tmp_path / "big", batch_size=512, epochs=1))


def test_train_then_evaluate_trains_each_network_in_a_process_of_its_own(stream_dataset, tmp_path, prefect_harness,
                                                                        monkeypatch):
    import frontside.learning.launch as launch
    from frontside.orchestration.flows.pipeline import train_then_evaluate

    launched = []
    real = launch.train_in_processes
    monkeypatch.setattr(launch, "train_in_processes", lambda config: launched.append(config.arch) or real(config))
    report = train_then_evaluate(train_data=[stream_dataset], test_data=[stream_dataset], out=str(tmp_path),
                                 archs=["frontonly", "twoview"], epochs=1, batch_size=8, max_steps_per_epoch=2,
                                 max_test_faces=2)
    assert launched == ["frontonly", "twoview"]
    assert Path(report).exists() and (tmp_path / "runs" / "twoview" / "best.pt").exists()
