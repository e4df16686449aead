"""Diagnose training, per network: per-layer statistics at initialisation and after training, and issue 11's
staged sanity targets on held-out faces, each beside the answer a network must beat.

    python benchmarks/diagnose_training.py --archs twoview twoview-thesis --steps 600

S1  memorise 8 fixed pairs within 300 steps: final loss / their constant's loss (target < 0.1);
S2  pose from the images alone: mean absolute yaw, pitch, roll error in degrees on held-out faces (target < 5),
    read off the predicted position map (the rotation that places the mean face on it);
S3  validation loss / the constant mean position map's (target < 1);
S4  shape: validation loss after similarity alignment / the mean face's (target < 1), and the chapter-5 NME after
    landmark + ICP alignment beside the mean face's.
Layer statistics (`tools.diagnostics.layer_statistics`): output mean/std, dead-unit fraction, gradient
norm and update/weight ratio of every convolution and linear layer, at initialisation and after `--steps`.
Prints JSON; `--out` keeps the runs, datasets are reused (`benchmarks/learning.py`'s generator).
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import numpy as np
import torch
from _common import emit
from learning import make_dataset


def layer_table(network, x, y, weight_mask) -> list[dict]:
    from frontside.learning.loss import WeightedPosmapLoss
    from tools.diagnostics import layer_statistics

    probe = copy.deepcopy(network)
    stats = layer_statistics(probe, x, y, WeightedPosmapLoss(weight_mask),
                             torch.optim.Adam(probe.parameters(), lr=1e-4))
    return [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in s.as_dict().items()} for s in stats]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="training shard folder (default: generate --train-faces)")
    parser.add_argument("--test", help="held-out shard folder (default: generate --test-faces)")
    parser.add_argument("--train-faces", type=int, default=600)
    parser.add_argument("--test-faces", type=int, default=48)
    parser.add_argument("--archs", nargs="+", default=["twoview", "twoview-thesis"])
    parser.add_argument("--steps", type=int, default=600, help="training steps per network for S2-S4")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="bench-diagnose")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = Path(args.out)
    train_dir = args.data or make_dataset(root / "train", args.train_faces, 0, processes=2)
    test_dir = args.test or make_dataset(root / "test", args.test_faces, 1_000_003, processes=2)

    from frontside.evaluation.evaluate import evaluate_mean_face, evaluate_predictor, load_pairs
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.config import TrainConfig
    from frontside.learning.data import ShardDataset
    from frontside.learning.inference import Predictor
    from frontside.learning.loss import weight_mask_from_regions
    from frontside.learning.networks.registry import build, get_arch
    from frontside.learning.trainer import dataset_basis, train
    from frontside.store.dataset import dataset_model
    from tools.diagnostics import memorise, pose_from_posmaps

    model, pairs = dataset_model(test_dir), load_pairs([test_dir])
    mean_face = evaluate_mean_face(pairs, model).summary()["mean_nme"]
    true_angles = np.array([[p.views[0].yaw, p.views[0].pitch, p.views[0].roll] for p in pairs])
    report: dict = {"train": train_dir, "test": test_dir, "test_faces": len(pairs), "mean_face_nme_icp": mean_face,
                    "load_average": os.getloadavg(), "archs": {}}
    for name in args.archs:
        arch = get_arch(name)
        config = TrainConfig(data=[train_dir], val=[test_dir], out=str(root / f"run-{name}-{args.steps}"),
                             arch=name, batch_size=args.batch_size, progress=False, resume=True)
        views, input_size = arch.views, (config.input_size if arch.structured else None)
        data = ShardDataset(train_dir, views, input_size=input_size)
        regions = data.uv_regions()
        basis, _ = dataset_basis([train_dir], regions)
        weight_mask = weight_mask_from_regions(regions)
        items = [data[i] for i in range(8)]
        x, y = torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])

        torch.manual_seed(0)
        fresh = build(config.network_spec(), basis)
        if arch.structured:
            fresh.start_at(y * (1.1 * basis.size), torch.from_numpy(weight_mask))
        at_init = layer_table(fresh, x, y, weight_mask)
        t0 = time.perf_counter()
        s1 = memorise(copy.deepcopy(fresh), x, y, weight_mask, steps=300)
        s1_seconds = time.perf_counter() - t0

        steps_per_epoch = max(1, len(data) // args.batch_size)
        config.epochs = max(1, round(args.steps / steps_per_epoch))
        result = train(config)
        state = load_checkpoint(result.last_path)
        history, baselines = state["history"], state["config"]["baselines"]
        predictor = Predictor.from_checkpoint(result.last_path, precision="fp32")
        scores = evaluate_predictor(predictor, pairs, model, name).summary()
        predicted = predictor.predict_batch([p.front for p in pairs], [p.side for p in pairs])
        pose_error = np.abs(pose_from_posmaps(predicted, basis) - true_angles).mean(axis=0)
        after = layer_table(predictor.network.cpu().train(), x, y, weight_mask)
        report["archs"][name] = {
            "S1_memorise_8_pairs": {"ratio_to_constant": s1.ratio, "first": s1.first_loss, "final": s1.final_loss,
                                    "constant": s1.constant_loss, "seconds": round(s1_seconds, 1)},
            "steps": sum(h["steps"] for h in history),
            "S2_pose_mae_deg": {"yaw": pose_error[0], "pitch": pose_error[1], "roll": pose_error[2]},
            "S3_val_loss_over_constant": history[-1]["val_loss"] / baselines["constant_val_loss"],
            "S4_val_shape_over_mean_face": history[-1]["val_shape_loss"] / baselines["mean_face_val_shape_loss"],
            "S4_nme_icp": scores["mean_nme"], "S4_nme_icp_over_mean_face": scores["mean_nme"] / mean_face,
            "layers_at_init": at_init, "layers_after": after,
        }
        print(f"{name}: S1 {s1.ratio:.3g}  S2 {np.round(pose_error, 2).tolist()}  "
              f"S3 {report['archs'][name]['S3_val_loss_over_constant']:.3g}  "
              f"S4 {report['archs'][name]['S4_val_shape_over_mean_face']:.3g} / NME {scores['mean_nme']:.4f} "
              f"(mean face {mean_face:.4f})", flush=True)
    report["minutes"] = round((time.perf_counter() - started) / 60, 1)
    emit(report)


if __name__ == "__main__":
    main()
