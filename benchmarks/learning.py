"""Does the side view help? Train two-view and front-only on the same generated data for the same steps, and
evaluate both and the mean face on held-out faces. Not part of CI: its budget is a flag (default 45 minutes).

    python benchmarks/learning.py --minutes 45 --out bench-learning
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import emit

from frontside.datasets.generation import GenerateParams, dataset_uv_regions, generate_shard, plan_shards
from frontside.datasets.shards import Manifest, write_uv_regions


def make_dataset(out: Path, n_faces: int, seed: int) -> str:
    params = GenerateParams(n_faces=n_faces, shard_size=32, seed=seed)
    manifest = Manifest.load_or_none(str(out)) or Manifest(parameters=params.as_dict())
    for spec in plan_shards(n_faces, 32):
        info, _ = generate_shard(spec, params, str(out), manifest.shards.get(f"shard-{spec.index:05d}.parquet"))
        manifest.shards[info.name] = info
    write_uv_regions(str(out), dataset_uv_regions(params))
    manifest.save(str(out))
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=45.0, help="total budget, generation included")
    parser.add_argument("--train-faces", type=int, default=480)
    parser.add_argument("--test-faces", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", default="bench-learning")
    args = parser.parse_args()
    started = time.perf_counter()
    root = Path(args.out)
    train_dir = make_dataset(root / "train", args.train_faces, seed=0)
    test_dir = make_dataset(root / "test", args.test_faces, seed=1_000_003)
    generation_s = time.perf_counter() - started

    import torch

    from frontside.evaluation.evaluate import (
        dataset_model,
        evaluate_mean_face,
        evaluate_predictor,
        load_pairs,
    )
    from frontside.model.inference import Predictor
    from frontside.model.training import TrainConfig, train

    torch.set_num_threads(2)
    remaining = args.minutes * 60 - generation_s - 120  # keep two minutes for evaluation
    # measure one model's step time, then give both the same number of steps
    probe = train(TrainConfig(data=[train_dir], out=str(root / "probe"), arch="twoview", epochs=1,
                              batch_size=args.batch_size, max_steps_per_epoch=3, progress=False))
    history = json.loads(json.dumps(torch.load(probe.last_path, weights_only=True)["history"]))
    step_s = history[0]["seconds"] / max(history[0]["steps"], 1)
    steps_each = max(int(remaining / 2 / (step_s * 1.15)), 10)
    epoch_steps = max(1, min(steps_each, args.train_faces // args.batch_size))
    epochs = max(1, -(-steps_each // epoch_steps))  # ceil: spend the budget, don't round it away
    results = {}
    for arch in ("twoview", "frontonly"):
        run = train(TrainConfig(data=[train_dir], out=str(root / f"{arch}-lr{args.lr:g}"), arch=arch, epochs=epochs,
                                batch_size=args.batch_size, lr=args.lr, lr_halving_epochs=max(epochs // 3, 1),
                                max_steps_per_epoch=epoch_steps, progress=False, patience=100))
        results[arch] = run
    model = dataset_model(test_dir)
    pairs = load_pairs([test_dir])
    table = {name: evaluate_predictor(Predictor.from_checkpoint(run.best_path), pairs, model, name).summary()
             for name, run in results.items()}
    table["mean face"] = evaluate_mean_face(pairs, model).summary()
    emit({"lr": args.lr, "minutes": round((time.perf_counter() - started) / 60, 1), "generation_s": round(generation_s, 1),
          "train_faces": args.train_faces, "test_faces": args.test_faces, "steps_per_model": epochs * epoch_steps,
          "batch_size": args.batch_size, "seconds_per_step_twoview": round(step_s, 2),
          "results": {k: {"mean_nme_icp": v["mean_nme"], "median_nme_icp": v["median_nme"],
                          "mean_nme_exact": v["mean_nme_exact"]} for k, v in table.items()},
          "best_val_loss": {k: v.best_val_loss for k, v in results.items()}})


if __name__ == "__main__":
    main()
