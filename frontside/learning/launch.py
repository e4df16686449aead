"""One training run in processes of its own: `config.nproc` ranks under torch.distributed's launcher (what
`torchrun --standalone --nproc-per-node N` does), or one fresh Python process. The caller holds none of the
run's memory (its network, its caches, its DataLoader workers), so a flow that trains three networks peaks at
one network's memory, and a process killed mid-run leaves the caller standing.

`python -m frontside.learning.launch CONFIG.json RESULT.json` is the entry point the launched processes run:
each trains as one rank (`trainer.train`), rank 0 writes the result; a rank that fails writes its one-line error
beside it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import frontside
from frontside.errors import FrontsideError, one_line
from frontside.io import write_atomic
from frontside.learning.config import TrainConfig

log = logging.getLogger(__name__)


class TrainingFailed(FrontsideError):
    """A launched training process failed; the message is its own error's one line, or how it ended."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def command(config: TrainConfig, config_path: str, result_path: str) -> list[str]:
    """The command line that runs `config` in its own processes."""
    if config.nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                str(config.nproc), "-m", "frontside.learning.launch", config_path, result_path]
    return [sys.executable, "-m", "frontside.learning.launch", config_path, result_path]


def train_in_processes(config: TrainConfig) -> dict:
    """Train as `config` says in fresh processes (`command`) and return the `TrainResult` as a dict. Stops the
    processes if the caller is interrupted; raises `TrainingFailed` with the failing rank's error otherwise."""
    env = dict(os.environ)
    package_root = str(Path(frontside.__file__).resolve().parents[1])  # a checkout runs without an install
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    with tempfile.TemporaryDirectory(prefix="frontside-train-") as folder:
        config_path, result_path = Path(folder) / "config.json", Path(folder) / "result.json"
        config_path.write_text(json.dumps(asdict(config)))
        process = subprocess.Popen(command(config, str(config_path), str(result_path)), env=env)
        try:
            code = process.wait()
        except BaseException:
            process.terminate()  # torchrun passes it on to its ranks
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
        if code == 0 and result_path.is_file():
            return json.loads(result_path.read_text())
        reports = [json.loads(path.read_text()) for path in sorted(Path(folder).glob("error-rank*.json"))]
        ours = [r for r in reports if r["frontside"]]  # a rank refused its input: that is the news
        if ours:
            raise TrainingFailed(ours[0]["message"], ours[0]["exit_code"])
        how = f"was ended by signal {-code}" if code < 0 else f"exited with code {code}"
        because = f": {reports[0]['message']}" if reports else " (its report is above)"
        raise TrainingFailed(f"{config.out}: a training process {how}{because}; --resume continues from the last "
                             "checkpoint")


def run_training(config: TrainConfig, own_process: bool = False) -> dict:
    """Train; the `TrainResult` as a dict. In this process when it is one rank alone and `own_process` is
    False; otherwise in processes of its own (`train_in_processes`)."""
    if config.nproc > 1 or own_process:
        return train_in_processes(config)
    from frontside.learning.trainer import train

    return asdict(train(config))


def main(argv: list[str]) -> int:
    """One rank of a launched run: train the config in argv[0]; rank 0 writes the result to argv[1]."""
    from frontside.learning.trainer import train
    from frontside.learning.world import world_from_env

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config_path, result_path = argv
    world = world_from_env()
    config = TrainConfig(**json.loads(Path(config_path).read_text()))
    try:
        result = train(config)
    except BaseException as exc:
        exit_code = getattr(exc, "exit_code", 1)
        write_atomic(Path(result_path).with_name(f"error-rank{world.rank:05d}.json"),
                     json.dumps({"message": one_line(exc), "exit_code": exit_code,
                                 "frontside": isinstance(exc, FrontsideError)}))
        if isinstance(exc, FrontsideError):
            print(f"frontside train (rank {world.rank}): error: {one_line(exc)}", file=sys.stderr)
            return exit_code
        raise
    if world.main:
        write_atomic(result_path, json.dumps(asdict(result)))
    return 0


def leave(code: int) -> None:
    """End a rank's process without the interpreter's finalization: a process group the garbage collector had not
    freed yet (the DDP wrapper holds it) was torn down there, and gloo's worker threads aborted the process
    ("terminate called without an active exception", SIGABRT after a finished run: once in a loaded test session).
    Everything the run writes is written and closed by then; the streams are flushed here."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    leave(main(sys.argv[1:]))
