"""Does the side view help? Train two-view and front-only on the same generated data for the same steps, evaluate
both and the mean face on held-out faces after every segment of training, and draw the learning curves.
Not part of CI; its budget (generation, training and evaluation together) is a flag.

    python benchmarks/learning.py --minutes 60 --out bench-learning

Writes `<out>/learning.json` and `<out>/learning_curve.png` and prints the JSON. The reported numbers are the
last checkpoint's (no selection on the held-out faces); the curve shows every segment. Datasets and runs already
in `<out>` are reused (generation resumes, a finished segment is not retrained), so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

from _common import emit

from frontside.datasets import driver
from frontside.datasets.generate_source import GenerateSource
from frontside.datasets.generation import GenerateParams
from frontside.io import write_atomic
from frontside.pictures import figure_png


def make_dataset(out: Path, n_faces: int, seed: int, processes: int, shard_size: int = 50) -> str:
    """A synthetic dataset at `out` made by the dataset driver on `processes` spawned workers; shards already
    valid are kept. The bytes are those of `frontside generate` with these parameters."""
    source = GenerateSource(GenerateParams(n_faces=n_faces, shard_size=shard_size, seed=seed))
    driver.make_dataset(source, str(out), driver.run_in_processes(processes))
    return str(out)


def plot(curves: dict[str, list[dict]], mean_face: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for arch, points in curves.items():
        steps = [p["steps"] for p in points]
        left.plot(steps, [p["nme_icp"] for p in points], marker="o", label=arch)
        right.plot(steps, [p["nme_exact"] for p in points], marker="o", label=arch)
    left.axhline(mean_face, color="grey", linestyle="--", label="mean face")
    left.set_ylabel("NME after ICP (held-out faces)")
    right.set_ylabel("exact NME, same frame (held-out faces)")
    for ax in (left, right):
        ax.set_xlabel("training steps")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=100))
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="total budget, generation and evaluation included")
    parser.add_argument("--train-faces", type=int, default=1000)
    parser.add_argument("--test-faces", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4, help="the thesis's 1e-4 (1e-3 kills the decoder's ReLUs)")
    parser.add_argument("--segments", type=int, default=6, help="evaluations per network along the way")
    parser.add_argument("--processes", type=int, default=2, help="generation processes")
    parser.add_argument("--archs", nargs="+", default=["twoview", "frontonly"])
    parser.add_argument("--out", default="bench-learning")
    args = parser.parse_args()
    started = time.perf_counter()
    root = Path(args.out)
    train_dir = make_dataset(root / "train", args.train_faces, 0, args.processes)
    test_dir = make_dataset(root / "test", args.test_faces, 1_000_003, args.processes)
    generation_s = time.perf_counter() - started

    import torch

    from frontside.evaluation.evaluate import (
        dataset_model,
        evaluate_mean_face,
        evaluate_predictor,
        load_pairs,
    )
    from frontside.model.checkpoint import load_checkpoint
    from frontside.model.inference import Predictor
    from frontside.model.training import TrainConfig, train

    torch.set_num_threads(os.cpu_count() or 1)
    model, pairs = dataset_model(test_dir), load_pairs([test_dir])

    def config(arch: str, out: str, epochs: int, steps: int | None = None) -> TrainConfig:
        # the lr stays at --lr (the thesis halves it every 5 epochs of 20k pairs, far beyond this budget), early
        # stopping off: both networks get exactly the same steps
        return TrainConfig(data=[train_dir], out=out, arch=arch, epochs=epochs, batch_size=args.batch_size,
                           lr=args.lr, lr_halving_epochs=10_000, patience=10_000, max_steps_per_epoch=steps,
                           max_val_batches=4, progress=False, resume=True)

    # step time of the costlier network, measured here and now (the CPU may be shared): the second of two short
    # epochs, as the first one also fills the shard cache
    probe = train(config("twoview", str(root / "probe"), 2, 15))
    record = load_checkpoint(probe.last_path)["history"][-1]
    step_s = record["seconds"] / record["steps"]  # validation included: a small margin
    evaluation_s = 30.0  # per evaluation of 48 faces and its checkpoint (25-30 s on a CPU without AMX)
    # a segment is whole epochs (capping an epoch's steps would revisit its first batches only); the steps
    # reported are the ones the checkpoint's history counts. Where the budget holds fewer epochs than
    # --segments, there are fewer segments (the most that get an epoch each) rather than a budget overrun.
    epoch_steps = math.ceil(args.train_faces * (1 - 0.1) / args.batch_size)

    def affordable_epochs(segments: int) -> int:
        left = args.minutes * 60 - (time.perf_counter() - started) - evaluation_s * (len(args.archs) * segments + 1)
        return int(left / len(args.archs) / (step_s * epoch_steps))

    segments = next((k for k in range(args.segments, 0, -1) if affordable_epochs(k) >= k), 0)
    if segments == 0:
        raise SystemExit(f"--minutes {args.minutes:g} leaves no time for one epoch per network "
                         f"({epoch_steps} steps at {step_s:.2f} s here): raise it or lower --train-faces")
    epochs = affordable_epochs(segments)
    epochs_per_segment = epochs // segments
    curves: dict[str, list[dict]] = {}
    for arch in args.archs:
        run = root / f"{arch}-lr{args.lr:g}-b{args.batch_size}-e{epochs_per_segment}"
        curves[arch] = []
        for segment in range(1, segments + 1):
            result = train(config(arch, str(run), segment * epochs_per_segment))
            history = load_checkpoint(result.last_path)["history"]
            scores = evaluate_predictor(Predictor.from_checkpoint(result.last_path), pairs, model, arch).summary()
            point = {"epochs": len(history), "steps": sum(h["steps"] for h in history),
                     "minutes": round((time.perf_counter() - started) / 60, 1), "val_loss": history[-1]["val_loss"],
                     "nme_icp": scores["mean_nme"], "median_nme_icp": scores["median_nme"],
                     "nme_exact": scores["mean_nme_exact"]}
            curves[arch].append(point)
            print(json.dumps({"arch": arch, **point}), flush=True)
    mean_face = evaluate_mean_face(pairs, model).summary()
    final = {arch: points[-1] for arch, points in curves.items()}
    result = {
        "minutes": round((time.perf_counter() - started) / 60, 1), "generation_s": round(generation_s, 1),
        "train_faces": args.train_faces, "test_faces": args.test_faces, "batch_size": args.batch_size,
        "lr": args.lr, "epochs_per_model": epochs_per_segment * segments,
        "steps_per_model": {arch: points[-1]["steps"] for arch, points in curves.items()},
        "seconds_per_step_twoview": round(step_s, 3), "load_average": os.getloadavg(),
        "final": {arch: {k: final[arch][k] for k in ("nme_icp", "median_nme_icp", "nme_exact", "val_loss")}
                  for arch in final},
        "mean_face": {"nme_icp": mean_face["mean_nme"], "median_nme_icp": mean_face["median_nme"]},
        "beats_mean_face": {arch: bool(final[arch]["nme_icp"] < mean_face["mean_nme"]) for arch in final},
        "curves": curves,
    }
    if {"twoview", "frontonly"} <= set(final):
        result["side_view_helps"] = bool(final["twoview"]["nme_icp"] < final["frontonly"]["nme_icp"])
    root.mkdir(parents=True, exist_ok=True)
    (root / "learning.json").write_text(json.dumps(result, indent=2))
    plot(curves, mean_face["mean_nme"], root / "learning_curve.png",
         f"{args.train_faces} training faces, batch {args.batch_size}, lr {args.lr:g}, "
         f"{max(result['steps_per_model'].values())} steps each")
    emit({k: v for k, v in result.items() if k != "curves"})
    if not all(math.isfinite(p["nme_icp"]) for points in curves.values() for p in points):
        print("note: some evaluations were infinite (a prediction with no extent)")


if __name__ == "__main__":
    main()
