"""The multi-view network's loss: a loss in every view, in the units of the position-map loss (posmap / 1.1 S).

    posmap    `ShapeAndPoseLoss` on the front's composed position map (the thesis's target, pose-free shape term)
    landmarks each present view's 68 landmark answers against the row's, visible ones, (pixels / 1.1 S)^2
    heatmap   cross-entropy of each visible landmark's spatial softmax against a Gaussian (one cell) at the truth
    visible   each landmark's visibility logit against the row's visibility
    pose      each view's pose head against the pose fitted to that view's true landmarks (`ViewTargets`)
    coefficients  the face model's true coefficients, under the pose-free shape metric G: (c - c*)^T G (c - c*)
              is the shape term of `ShapeAndPoseLoss` to first order, so its weight compares with shape_weight
    coefficients_sd  the same coefficients' mean squared error in the model's standard deviations (what held-out
              R² measures): G hardly sees a component the face's surface shows as other components (head depth
              is 1% its own under G); this term asks for every component as such (README "Learning": at 128 px,
              seed 0, two views 0.00730 -> 0.00693 NME, mean R² 0.48 -> 0.56 at 3e-3; 1e-2, the default since,
              2.2-3.1% closer again on seeds 0-2, three views 3.8-6.0%; `train --coefficients-sd` sets it)

Every per-view term is over the views present; rows without a known pose or coefficients (NaN) skip those terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from frontside.facemodel.uv_basis import UVBasis
from frontside.geometry.transforms import similarity_directions
from frontside.learning.loss import ShapeAndPoseLoss
from frontside.learning.networks.structured import rotation_from_6d


@dataclass(frozen=True)
class MultiViewWeights:
    """The terms' weights (measured in issue 21: README "Learning")."""

    posmap: float = 1.0
    landmarks: float = 1.0
    heatmap: float = 0.01
    visible: float = 0.001
    pose: float = 0.02
    coefficients: float = 100.0
    coefficients_sd: float = 1e-2  # 3e-3 trained the shipped networks (`train --coefficients-sd 0.003`)


def shape_metric(basis: UVBasis, weight_mask: np.ndarray, stride: int = 2, log_scale: float = 0.49) -> torch.Tensor:
    """(K, K) G: the components' displacements on every `stride`-th UV pixel weighted by the loss mask, the 7
    similarity directions at the mean shape projected out, in posmap / 1.1 S units at a typical crop scale
    (log scale 0.49: the mean front of the built-in renders, whose normalised unit is the whole head's extent),
    normalised as `ShapeAndPoseLoss` (a sum over pixels / all pixels)."""
    w = weight_mask[::stride, ::stride].ravel().astype(np.float64)
    keep = w > 0
    w = w[keep]
    mean = basis.mean[::stride, ::stride].reshape(-1, 3)[keep].astype(np.float64)
    comps = basis.components[:, ::stride, ::stride].reshape(basis.n_components, -1, 3)[:, keep].astype(np.float64)
    m = mean - (w[:, None] * mean).sum(0) / w.sum()
    t = similarity_directions(m)  # (3P, 7)
    wt = np.repeat(w, 3)
    b = comps.reshape(basis.n_components, -1).T  # (3P, K)
    residual = b - t @ np.linalg.solve(t.T @ (wt[:, None] * t), t.T @ (wt[:, None] * b))
    s = np.exp(log_scale) / 1.1  # normalised units -> posmap / 1.1 S at scale exp(log_scale) S
    return torch.tensor(s ** 2 * residual.T @ (wt[:, None] * residual) / weight_mask[::stride, ::stride].size,
                        dtype=torch.float32)


class MultiViewLoss(nn.Module):
    """(total, {term: value}) of `MultiViewNet.forward(..., details=True)`'s (posmap, details) against targets
    {"target" (B, 3, S/t, S/t), "landmarks" (B, V, 68, 2) S-frame pixels, "visible" (B, V, 68), "pose" (B, V, 10),
    "coefficients" (B, K)} (`learning.data` builds them)."""

    def __init__(self, basis: UVBasis, weight_mask: np.ndarray, shape_weight: float, stride: int,
                 weights: MultiViewWeights = MultiViewWeights()):
        super().__init__()
        self.weights, self.frame = weights, basis.size
        self.posmap = ShapeAndPoseLoss(weight_mask[::stride, ::stride], shape_weight)
        self.register_buffer("metric", shape_metric(basis, weight_mask), persistent=False)
        self.terms: dict[str, float] = {}

    def forward(self, outputs: tuple[torch.Tensor, dict], targets: dict) -> torch.Tensor:
        posmap, out = outputs
        present = out["present"]
        unit2 = (1.1 * self.frame) ** 2
        terms = {"posmap": self.posmap(posmap, targets["target"])}
        visible = targets["visible"][present].float()
        count = visible.sum().clamp_min(1.0)
        truth = targets["landmarks"][present]
        err = ((out["landmarks"][present] - truth) ** 2).sum(-1) / unit2
        terms["landmarks"] = (err * visible).sum() / count
        terms["visible"] = F.binary_cross_entropy_with_logits(out["visibility_logit"][present], visible)
        logits = out["heatmap_logits"][present]
        m, _, cells, _ = logits.shape
        cell = self.frame / cells
        centres = (torch.arange(cells, dtype=logits.dtype, device=logits.device) + 0.5) * cell
        gx = torch.exp(-0.5 * ((centres[None, None] - truth[..., :1]) / cell) ** 2)
        gy = torch.exp(-0.5 * ((centres[None, None] - truth[..., 1:]) / cell) ** 2)
        target = gy[..., :, None] * gx[..., None, :]
        target = target / target.sum((-2, -1), keepdim=True).clamp_min(1e-12)
        ce = -(target * torch.log_softmax(logits.flatten(2), -1).view_as(logits)).sum((-2, -1))
        terms["heatmap"] = (ce * visible).sum() / count
        pose_true = targets["pose"][present]
        known = torch.isfinite(pose_true).all(1)
        if known.any():
            pose = out["pose"][present][known]
            truth_pose = pose_true[known]
            rot = ((rotation_from_6d(pose[:, :6]) - rotation_from_6d(truth_pose[:, :6])) ** 2).sum((1, 2))
            terms["pose"] = (rot + ((pose[:, 6:] - truth_pose[:, 6:]) ** 2).sum(1)).mean()
        coef_true = targets["coefficients"]
        known = torch.isfinite(coef_true).all(1)
        if known.any():
            d = out["coefficients"][known] - coef_true[known]
            terms["coefficients"] = torch.einsum("bk,kl,bl->b", d, self.metric, d).mean()
            terms["coefficients_sd"] = (d ** 2).mean()
        self.terms = {k: float(v.detach()) for k, v in terms.items()}
        return sum(getattr(self.weights, k) * v for k, v in terms.items())
