"""Which learning-rate rule fits a larger global batch (`--lr-scaling`): the recipe's batch of 16 against a batch
of `--batch` with the recipe's rate as it is, times sqrt(batch / 16), and times batch / 16, all over the same
number of samples (so the larger batch takes fewer steps), scored by the held-out losses at the end. A run on
N processes is the 1-process run of the same global batch (`benchmarks/distributed.py`, tests/test_distributed.py),
so this is measured in one process each, one thread, two at a time. Not part of CI; prints JSON.

    python benchmarks/batch_lr.py --data DIR [--epochs 3] [--batch 64] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import emit


def _run(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.config import TrainConfig
    from frontside.learning.trainer import train

    result = train(TrainConfig(**job))
    last = load_checkpoint(result.last_path)["history"][-1]
    return {"batch": job["batch_size"], "rule": job["lr_scaling"], "seed": job["seed"],
            "val_loss": last["val_loss"], "val_shape_loss": last["val_shape_loss"], "steps": last["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="bench-batch-lr")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    base = dict(data=[args.data], arch="twoview", epochs=args.epochs, input_size=args.input_size, precision="fp32",
                progress=False, overwrite=True, patience=100, workers=0)
    cases = [(16, "none")] + [(args.batch, rule) for rule in ("none", "sqrt", "linear")]
    jobs = [{**base, "out": str(Path(args.out) / f"b{batch}-{rule}-s{seed}"), "batch_size": batch,
             "lr_scaling": rule, "seed": seed} for seed in args.seeds for batch, rule in cases]
    with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn"),
                             max_tasks_per_child=1) as pool:
        runs = list(pool.map(_run, jobs))
    summary = {}
    for batch, rule in cases:
        mine = [r for r in runs if r["batch"] == batch and r["rule"] == rule]
        summary[f"batch {batch}, lr {rule}"] = {
            "val_loss_mean": statistics.mean(r["val_loss"] for r in mine),
            "val_shape_loss_mean": statistics.mean(r["val_shape_loss"] for r in mine),
            "val_shape_loss": [r["val_shape_loss"] for r in mine]}
    emit({"data": args.data, "epochs": args.epochs, "seeds": args.seeds, "summary": summary, "runs": runs,
          "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
