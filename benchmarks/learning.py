"""Does the side view help? Train a multi-view network and the same design on fronts alone on the same generated
data for the same steps, several seeds each, and score every network and the mean face on the same held-out faces
(chapter 5's NME after landmark + ICP alignment), with the diagnostics of every multi-view report: the side-shuffle
score, the NME by the photos given (front; front + side; front + both sides) and the held-out R² of the face
model's largest components (`evaluation.diagnostics`). Not part of CI; its whole budget (generation, training,
evaluation) is a flag.

    python benchmarks/learning.py --minutes 60 --out bench-learning
    python benchmarks/learning.py --runs twoview frontonly      # the structured networks of before (stacked views)

Runs by name: multiview (front + 2 sides a face, each side left out half the time), multiview-front (the same
network trained on fronts only: the fair front-only baseline, `learning.config.VARIANTS`), twoview, frontonly, any
arch.

Two training runs go at a time, one thread each (on two cores that beats one run on two threads). Writes
`<out>/learning.json` (every NME, mean and spread per network, the mean face, per-epoch curves) and
`<out>/learning.png` (validation shape loss over training beside the mean face's, and the final NME per seed),
and prints the JSON. Datasets already in `<out>` are reused (generation resumes), and so are runs: an interrupted
benchmark run again with the same arguments resumes every training run from its `last.pt` and re-scores the
finished ones.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import emit

from frontside.io import write_atomic
from frontside.learning.config import run_fields
from frontside.pictures import figure_png
from frontside.store import driver
from frontside.synthesis.config import GenerateParams
from frontside.synthesis.generate import GenerateSource

TEST_SEED = 1_000_003  # held-out faces come from another seed than any training set
# (run, the front-only run it is compared with): the first pair present is the headline
COMPARISONS = (("multiview", "multiview-front"), ("twoview", "frontonly"))


def make_dataset(out: Path, n_faces: int, seed: int, processes: int, shard_size: int = 50, views: int = 3) -> str:
    """A synthetic dataset at `out` made by the dataset driver on `processes` spawned workers; shards already
    valid are kept. The bytes are those of `frontside generate` with these parameters."""
    source = GenerateSource(GenerateParams(n_faces=n_faces, shard_size=shard_size, seed=seed, views=views))
    driver.make_dataset(source, str(out), driver.run_in_processes(processes))
    return str(out)


def _train_and_score(job: dict) -> dict:
    """One run in its own process (one thread): train, then score the last checkpoint on the held-out faces."""
    import torch

    torch.set_num_threads(1)
    from frontside.evaluation.evaluate import evaluate_predictor, load_pairs
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.config import TrainConfig
    from frontside.learning.inference import Predictor
    from frontside.learning.trainer import train
    from frontside.store.dataset import dataset_model

    started = time.perf_counter()
    result = train(TrainConfig(**job["config"]))
    trained_s = time.perf_counter() - started
    state = load_checkpoint(result.last_path)
    test = job["test"]
    if test is None:  # a timing probe: its epochs after the first (samples decoded by then) and the set-up
        epochs = state["history"]
        return {"step_s": sum(h["seconds"] for h in epochs[1:]) / max(sum(h["steps"] for h in epochs[1:]), 1),
                "overhead_s": trained_s - sum(h["seconds"] for h in epochs)}
    from frontside.evaluation.diagnostics import view_diagnostics

    predictor = Predictor.from_checkpoint(result.last_path, precision="fp32")
    faces, model = load_pairs([test], n_views=None), dataset_model(test)
    evaluated = evaluate_predictor(predictor, faces, model, job["name"])
    views = view_diagnostics(predictor, faces, model, evaluated.icp_errors)
    scores = evaluated.summary()
    return {"run": job["name"], "arch": job["config"]["arch"], "seed": job["config"]["seed"],
            "nme_icp": scores["mean_nme"], "views": views,
            "median_nme_icp": scores["median_nme"], "nme_exact": scores["mean_nme_exact"],
            "steps": sum(h["steps"] for h in state["history"]), "train_minutes": round(trained_s / 60, 2),
            "baselines": state["config"]["baselines"],
            "history": [{k: h[k] for k in ("epoch", "steps", "train_loss", "val_loss", "val_shape_loss")}
                        for h in state["history"]]}


def view_summary(runs: list[dict], names: list[str]) -> dict:
    """Per run name, over its seeds: the side-shuffle change, the NME by photos given, and the R² of each named
    component per condition (mean over seeds; `r2_seeds`: its spread over the seeds, and `r2_interval`: each seed's
    90% bootstrap interval over the held-out faces, [low, high] per component and seed, where the reports have
    them)."""
    out: dict = {"side_shuffle": {}, "nme_by_views": {}, "component_r2": {}}
    for name in names:
        views = [r["views"] for r in runs if r["run"] == name and r.get("views")]
        if not views:
            continue
        if all("side_shuffle" in v for v in views):
            out["side_shuffle"][name] = _spread([v["side_shuffle"]["change"] for v in views])
        if all("nme_by_views" in v for v in views):
            out["nme_by_views"][name] = {c: _spread([v["nme_by_views"][c] for v in views])
                                         for c in views[0]["nme_by_views"]}
        if all("component_r2" in v for v in views):
            first = views[0]["component_r2"]
            out["component_r2"][name] = {
                "names": first["names"], "landmark_ceiling": first.get("landmark_ceiling"),
                "r2": {c: [sum(v["component_r2"]["r2"][c][k] for v in views) / len(views)
                           for k in range(len(first["names"]))] for c in first["r2"]},
                "r2_seeds": {c: [_spread([v["component_r2"]["r2"][c][k] for v in views])
                                 for k in range(len(first["names"]))] for c in first["r2"]}}
            if all("r2_interval" in v["component_r2"] for v in views):
                out["component_r2"][name]["r2_interval"] = {
                    c: [[[v["component_r2"]["r2_interval"][c][0][k], v["component_r2"]["r2_interval"][c][1][k]]
                         for v in views] for k in range(len(first["names"]))] for c in first["r2"]}
    return out


def _decoding_seconds(train_dir: str, train_faces: int, rows: int = 100) -> float:
    """Seconds one run spends decoding its training faces once (its first epoch; later ones read its cache),
    from the first `rows` rows (whole shards, as an epoch reads them) decoded here on one thread."""
    from frontside.learning.config import TrainConfig
    from frontside.learning.data import ShardDataset
    from frontside.learning.networks.structured import TRAIN_STRIDE

    data = ShardDataset(train_dir, input_size=TrainConfig(data=[train_dir], out="").encoder_size(),
                        target_stride=TRAIN_STRIDE)
    rows = min(rows, len(data))
    started = time.perf_counter()
    for i in range(rows):
        data.sample(i)
    return (time.perf_counter() - started) / rows * train_faces * 1.15


def _spread(values: list[float]) -> dict:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
    return {"mean": mean, "sd": sd, "min": min(values), "max": max(values), "n": len(values)}


def plot(runs: list[dict], mean_face: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    colours = {}
    for run in runs:
        colour = colours.setdefault(run["run"], f"C{len(colours)}")
        steps, total = [], 0
        for h in run["history"]:
            total += h["steps"]
            steps.append(total)
        shape = [h["val_shape_loss"] / run["baselines"]["mean_face_val_shape_loss"] for h in run["history"]]
        left.plot(steps, shape, color=colour, alpha=0.8,
                  label=run["run"] if run["seed"] == min(r["seed"] for r in runs) else None)
    left.axhline(1.0, color="grey", linestyle="--", label="mean face")
    left.set_xlabel("training steps")
    left.set_ylabel("validation loss after similarity alignment\n/ the mean face's (shape)")
    left.set_yscale("log")
    left.grid(alpha=0.3, which="both")
    left.legend()
    archs = list(colours)
    for i, arch in enumerate(archs):
        values = [r["nme_icp"] for r in runs if r["run"] == arch]
        right.scatter([i] * len(values), values, color=colours[arch], zorder=3)
        right.errorbar([i + 0.15], [sum(values) / len(values)], yerr=[_spread(values)["sd"]], fmt="o",
                       color="black", capsize=4)
    right.axhline(mean_face, color="grey", linestyle="--", label="mean face")
    right.axhline(0.8 * mean_face, color="grey", linestyle=":", label="20% below the mean face")
    right.set_xticks(range(len(archs)), archs)
    right.set_ylabel("NME after ICP, held-out faces (each seed; mean ± sd)")
    right.grid(alpha=0.3)
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=100))
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="total budget, generation and evaluation included")
    parser.add_argument("--train-faces", type=int, default=9600)
    parser.add_argument("--test-faces", type=int, default=48)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", nargs="+", default=["multiview", "multiview-front"],
                        help="arch names or named variants (learning.config.VARIANTS)")
    parser.add_argument("--views", type=int, default=3, help="views a face in the generated data")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default: what fits)")
    parser.add_argument("--processes", type=int, default=2, help="runs (and generation workers) at a time")
    parser.add_argument("--out", default="bench-learning")
    args = parser.parse_args()
    started = time.perf_counter()
    root = Path(args.out)
    train_dir = make_dataset(root / "train", args.train_faces, 0, args.processes, views=args.views)
    test_dir = make_dataset(root / "test", args.test_faces, TEST_SEED, args.processes, views=args.views)
    generation_s = time.perf_counter() - started

    from frontside.evaluation.evaluate import evaluate_mean_face, load_pairs
    from frontside.store.dataset import dataset_model

    mean_face = evaluate_mean_face(load_pairs([test_dir]), dataset_model(test_dir)).summary()
    runs_total = len(args.seeds) * len(args.runs)
    rounds = math.ceil(runs_total / args.processes)
    steps_per_epoch = max(1, math.floor(args.train_faces * 0.9 / args.batch_size))
    if args.steps is None:
        shutil.rmtree(root / "probe", ignore_errors=True)
        # measured here and now (the CPU may be shared), the costlier network on 1 thread: steps on data already
        # decoded (the held-out faces, a few epochs), and apart from them one decoding pass over the training faces
        probe = _train_and_score({"config": dict(data=[test_dir], val=[test_dir], out=str(root / "probe"),
                                                 **run_fields(args.runs[0]), epochs=6,
                                                 batch_size=args.batch_size,
                                                 max_val_batches=1, progress=False), "test": None})
        step_s = probe["step_s"] * 1.15  # contention of two runs at a time
        decode_s = _decoding_seconds(train_dir, args.train_faces)
        per_run_s = probe["overhead_s"] + decode_s + 60.0  # set-up, the first epoch's decoding, scoring
        left = args.minutes * 60 - (time.perf_counter() - started) - rounds * per_run_s
        args.steps = max(steps_per_epoch, int(left / rounds / step_s))
    epochs = max(1, round(args.steps / steps_per_epoch))
    jobs = [{"name": name,
             "config": dict(data=[train_dir], out=str(root / f"{name}-seed{seed}-e{epochs}"),
                            **run_fields(name), seed=seed, epochs=epochs, batch_size=args.batch_size,
                            max_val_batches=4, patience=10_000, progress=False,
                            resume=(root / f"{name}-seed{seed}-e{epochs}" / "last.pt").exists()),
             "test": test_dir} for seed in args.seeds for name in args.runs]
    runs = []
    # a fresh process per run: a worker reused for a second run held both runs' caches (11.7 GB at the third)
    with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn"),
                             max_tasks_per_child=1) as pool:
        for run in pool.map(_train_and_score, jobs):
            runs.append(run)
            print(json.dumps({k: run[k] for k in ("run", "seed", "steps", "nme_icp", "train_minutes")}), flush=True)
    by_arch = {name: _spread([r["nme_icp"] for r in runs if r["run"] == name]) for name in args.runs}
    result = {
        "minutes": round((time.perf_counter() - started) / 60, 1), "generation_s": round(generation_s, 1),
        "train_faces": args.train_faces, "test_faces": args.test_faces, "batch_size": args.batch_size,
        "epochs": epochs, "steps_per_run": runs[0]["steps"], "seeds": args.seeds,
        "load_average": os.getloadavg(),
        "mean_face_nme_icp": mean_face["mean_nme"],
        "nme_icp": by_arch,
        "below_mean_face": {arch: 1 - s["mean"] / mean_face["mean_nme"] for arch, s in by_arch.items()},
        "runs": runs,
    }
    result.update(view_summary(runs, args.runs))
    for name, baseline in COMPARISONS:
        if {name, baseline} <= set(by_arch):
            two, front = by_arch[name], by_arch[baseline]
            seeds = {r["seed"]: r["nme_icp"] for r in runs if r["run"] == baseline}
            result["side_view_gain"] = {"run": name, "front_only": baseline, "gain": 1 - two["mean"] / front["mean"],
                                        "exceeds_spread": bool(front["mean"] - two["mean"] > two["sd"] + front["sd"]),
                                        "per_seed": {r["seed"]: 1 - r["nme_icp"] / seeds[r["seed"]] for r in runs
                                                     if r["run"] == name and r["seed"] in seeds}}
            break
    root.mkdir(parents=True, exist_ok=True)
    (root / "learning.json").write_text(json.dumps(result, indent=2))
    plot(runs, mean_face["mean_nme"], root / "learning.png",
         f"{args.train_faces} training faces, {result['steps_per_run']} steps of batch {args.batch_size} per run, "
         f"seeds {args.seeds}")
    emit({k: v for k, v in result.items() if k != "runs"})


if __name__ == "__main__":
    main()
