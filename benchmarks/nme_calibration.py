"""What does a network have to reach to beat the mean face? Scores answers of known quality on held-out faces.

    python benchmarks/nme_calibration.py [--data DIR] [--faces 24]

For the faces of a shard folder (or 24 freshly generated ones), prints the weighted posmap loss (the training
loss), the NME after landmark + ICP alignment and the exact NME of:
- the mean face (the "no learning" row of every report);
- the mean face at each face's true pose (a similarity fitted to the true vertices): a network that has learnt
  pose perfectly and identity and expression not at all;
- one constant answer, the mean position map of these faces: what a network reaches first;
- the truth plus Gaussian noise of sigma pixels per coordinate, white or smoothed over 8 UV pixels.
The loss at which the noisy truth ties the mean face's NME is the validation loss a network needs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import emit
from learning import make_dataset


class FixedAnswers:
    """A predictor that returns given position maps, in the order `evaluate_predictor` asks for them."""

    arch = "fixed"

    def __init__(self, posmaps: list[np.ndarray]):
        self.posmaps, self.next = posmaps, 0

    def predict_batch(self, fronts, sides) -> np.ndarray:
        out = np.stack(self.posmaps[self.next:self.next + len(fronts)])
        self.next += len(fronts)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a shard folder of held-out faces (default: generate --faces of them)")
    parser.add_argument("--faces", type=int, default=24)
    args = parser.parse_args()

    import cv2
    import torch

    from frontside.evaluation.evaluate import (
        evaluate_mean_face,
        evaluate_predictor,
        load_pairs,
        mean_face_in_image_frame,
    )
    from frontside.geometry.icp import apply_transform, landmark_alignment
    from frontside.geometry.posmap import rasterize_posmap, sample_posmap
    from frontside.learning.loss import WeightedPosmapLoss, weight_mask_from_regions
    from frontside.learning.network_io import posmap_scale
    from frontside.store.dataset import dataset_model, read_uv_regions

    # the held-out set of benchmarks/learning.py (its seed), made in this process's own spawned worker
    root = args.data or make_dataset(Path(tempfile.mkdtemp(prefix="frontside-calibration-")), args.faces,
                                     1_000_003, processes=1)
    pairs = load_pairs([root], args.faces)
    model = dataset_model(root)
    loss_fn = WeightedPosmapLoss(weight_mask_from_regions(read_uv_regions(root)))
    truth = np.stack([p.posmap for p in pairs])

    def loss(posmaps: list[np.ndarray]) -> float:
        def tensor(a):
            return torch.from_numpy(np.ascontiguousarray(np.stack(a) / posmap_scale(np.stack(a).shape[1]), np.float32)).permute(0, 3, 1, 2)
        return float(loss_fn(tensor(posmaps), tensor(list(truth))))

    def score(name: str, posmaps: list[np.ndarray]) -> dict:
        s = evaluate_predictor(FixedAnswers(posmaps), pairs, model, name).summary()
        return {"loss": loss(posmaps), "nme_icp": s["mean_nme"], "nme_exact": s["mean_nme_exact"]}

    mean_face = mean_face_in_image_frame(model)
    posed = []
    for pair in pairs:
        true_vertices = sample_posmap(pair.posmap, model.uv)
        placed = apply_transform(mean_face, landmark_alignment(mean_face, true_vertices, scale=True))
        posed.append(rasterize_posmap(model.uv, model.triangles, placed)[0])
    rows = {"mean_face": {"nme_icp": evaluate_mean_face(pairs, model).summary()["mean_nme"]},
            "mean_face_at_true_pose": score("posed mean", posed),
            "constant_mean_posmap": score("constant", [truth.mean(axis=0)] * len(pairs))}
    rng = np.random.default_rng(0)
    noisy = []
    for smooth in (0, 8):
        for sigma in (0.5, 1.0, 2.0, 4.0, 8.0):
            answers = []
            for t in truth:
                noise = rng.normal(size=t.shape).astype(np.float32)
                if smooth:
                    noise = cv2.GaussianBlur(noise, (0, 0), smooth)
                    noise /= noise.std()
                answers.append(t + sigma * noise)
            noisy.append({"sigma_px": sigma, "smoothing_px": smooth, **score("noisy", answers)})
    emit({"faces": len(pairs), "data": root, **rows, "truth_plus_noise": noisy})


if __name__ == "__main__":
    main()
