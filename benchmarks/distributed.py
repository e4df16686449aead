"""Data-parallel training speed on this machine: samples/s of the same run (global batch, data streams, seed) in
1 and in 2 processes (gloo on a CPU), the scaling efficiency, what synchronised batch norm costs, and what
torch.compile does to a step. Not part of CI; prints JSON.

    python benchmarks/distributed.py --data DIR [--steps 20] [--rounds 3]

Each configuration trains in processes of its own (`learning.launch`, as `frontside train --nproc N`), two
epochs of `--steps` steps; samples/s is the second epoch's (the first includes start-up, allocation and, with
compile, compilation), from the run's own timing of its steps (validation excluded), beside the CPU time its
processes spent per sample (summed over them: on a shared machine the wall-clock figure measures the scheduler as
much as the run, the CPU time what a second process costs). Rounds alternate the
configurations so drift in the machine's load hits all of them; the load average is recorded around each run.
Without `--data` a 192-face 256 x 256 dataset is made in `--out` first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from _common import emit

from frontside.learning.checkpoint.saving import load_checkpoint
from frontside.learning.config import TrainConfig
from frontside.learning.launch import train_in_processes

CONFIGS = {
    "1 process": dict(nproc=1),
    "1 process, 1 thread": dict(nproc=1),  # OMP_NUM_THREADS=1, as torchrun gives each of its processes
    "2 processes": dict(nproc=2),
    "2 processes, batch norm per process": dict(nproc=2, sync_batchnorm=False),
    "1 process, torch.compile": dict(nproc=1, compile=True),
}


def run(name: str, data: str, out: Path, steps: int, batch: int, arch: str) -> dict:
    config = TrainConfig(data=[data], out=str(out / name.replace(" ", "-").replace(",", "")), arch=arch,
                         batch_size=batch, epochs=2, max_steps_per_epoch=steps, max_val_batches=1, stream=True,
                         streams=2, progress=False, overwrite=True, patience=100, **CONFIGS[name])
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    threads = os.environ.get("OMP_NUM_THREADS")
    if "1 thread" in name:
        os.environ["OMP_NUM_THREADS"] = "1"
    try:
        result = train_in_processes(config)
    except Exception as exc:  # noqa: BLE001  (a configuration that cannot run here is reported, not fatal)
        return {"error": str(exc)[:300]}
    finally:
        if threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = threads
    wall = time.perf_counter() - started
    history = load_checkpoint(result["last_path"])["history"]
    second = history[1]
    return {"samples_per_s": second["steps"] * batch / second["seconds"],
            "cpu_ms_per_sample": 1000 * second["cpu_seconds"] / (second["steps"] * batch),
            "first_epoch_samples_per_s": history[0]["steps"] * batch / history[0]["seconds"],
            "wall_s": wall, "precision": second["precision"], "load_before": load_before,
            "load_after": os.getloadavg()[0], "train_loss": [h["train_loss"] for h in history]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a dataset folder or URL (default: made in --out)")
    parser.add_argument("--out", default="bench-distributed")
    parser.add_argument("--steps", type=int, default=20, help="steps an epoch (two epochs a run)")
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch")
    parser.add_argument("--arch", default="twoview")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    out = Path(args.out)
    data = args.data
    if data is None:
        from frontside.store.driver import make_dataset
        from frontside.synthesis.config import GenerateParams
        from frontside.synthesis.generate import GenerateSource

        data = str(out / "data")
        make_dataset(GenerateSource(GenerateParams(n_faces=192, shard_size=16, seed=5)), data)
    rounds = {name: [] for name in args.configs}
    for _ in range(args.rounds):
        for name in args.configs:
            rounds[name].append(run(name, data, out, args.steps, args.batch_size, args.arch))
    summary = {}
    for name, runs in rounds.items():
        speeds = [r["samples_per_s"] for r in runs if "samples_per_s" in r]
        cpu = [r["cpu_ms_per_sample"] for r in runs if "cpu_ms_per_sample" in r]
        summary[name] = {"samples_per_s_median": statistics.median(speeds) if speeds else None,
                         "samples_per_s": speeds, "cpu_ms_per_sample_median": statistics.median(cpu) if cpu else None,
                         "cpu_ms_per_sample": cpu, "errors": [r["error"] for r in runs if "error" in r]}
    two = summary.get("2 processes", {})
    result = {"data": data, "arch": args.arch, "global_batch": args.batch_size, "steps_per_epoch": args.steps,
              "cpus": len(os.sched_getaffinity(0)), "configurations": summary, "runs": rounds,
              "load_average_end": os.getloadavg()}
    for base in ("1 process", "1 process, 1 thread"):
        one = summary.get(base, {})
        if one.get("samples_per_s_median") and two.get("samples_per_s_median"):
            result[f"against {base}"] = {
                "speed_up_2_processes": two["samples_per_s_median"] / one["samples_per_s_median"],
                "scaling_efficiency_2_processes": two["samples_per_s_median"] / (2 * one["samples_per_s_median"]),
                # the same work's CPU time, summed over the processes: what a second process costs beyond its
                # share, whatever else runs on the machine
                "cpu_efficiency_2_processes": one["cpu_ms_per_sample_median"] / two["cpu_ms_per_sample_median"]}
    emit(result)


if __name__ == "__main__":
    main()
