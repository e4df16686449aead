"""PRN's weighted position-map loss (thesis eq. 3.1) and its UV weight mask (16:4:3:0)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from frontside.facemodel.model import REGION_WEIGHTS


def weight_mask_from_regions(uv_regions: np.ndarray) -> np.ndarray:
    """(S, S) float32 in [0, 1]: landmark 16, eyes-nose-mouth 4, face 3, neck and uncovered 0, divided by 16."""
    mask = np.zeros(uv_regions.shape, np.float32)
    for region, weight in REGION_WEIGHTS.items():
        mask[uv_regions == int(region)] = weight
    return mask / max(REGION_WEIGHTS.values())


class WeightedPosmapLoss(nn.Module):
    """mean over pixels of W(u, v) * sum over xyz of (pred - target)^2.

    Eq. 3.1 writes a norm; PRN's implementation squares it (mean squared error under the mask), which has a
    smoother gradient near zero; we follow the implementation.
    """

    def __init__(self, weight_mask: np.ndarray):
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weight_mask, dtype=torch.float32)[None, None])

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        squared = ((prediction - target) ** 2).sum(dim=1, keepdim=True)
        return (squared * self.weights).mean()


def similarity_align(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`prediction` (B, 3, ...) moved by the similarity (rotation, scale, translation) that best maps it onto
    `target` (B, 3, ...) under per-point `weights` (broadcastable to (1, 1, ...)): Umeyama's closed form, one
    3 x 3 SVD per sample. The transform is computed without gradient: what remains to learn is the shape, not
    where it sits."""
    b = len(prediction)
    p, q = prediction.reshape(b, 3, -1), target.reshape(b, 3, -1)
    w = weights.reshape(1, 1, -1).to(p.dtype)
    with torch.no_grad():
        total = w.sum()
        pc, qc = (p * w).sum(2, keepdim=True) / total, (q * w).sum(2, keepdim=True) / total
        pd, qd = p - pc, q - qc
        cov = ((qd * w) @ pd.transpose(1, 2)).double()  # (B, 3, 3): sum_i w_i q_i p_i^T
        u, s, vt = torch.linalg.svd(cov)
        fix = torch.ones(b, 3, dtype=torch.float64, device=p.device)
        fix[:, 2] = torch.sign(torch.det(u @ vt))
        rotation = (u @ torch.diag_embed(fix) @ vt).to(p.dtype)
        variance = (pd.square() * w).sum((1, 2)).double().clamp_min(1e-12)
        scale = ((s * fix).sum(1) / variance).to(p.dtype)[:, None, None]
    aligned = scale * (rotation @ (p - pc)) + qc
    return aligned.reshape(prediction.shape)


class ShapeAndPoseLoss(nn.Module):
    """`WeightedPosmapLoss` plus `shape_weight` times the same loss after aligning the prediction to the target by
    a similarity (`similarity_align`): the pose-free part of the error, which is what the chapter-5 NME after ICP
    scores. Without it the gradient of a structured network's shape coefficients is drowned by pose errors.
    Both terms are means over all S x S pixels; the shape term only visits pixels of non-zero weight."""

    def __init__(self, weight_mask: np.ndarray, shape_weight: float = 10.0):
        super().__init__()
        self.posmap = WeightedPosmapLoss(weight_mask)
        self.shape_weight = shape_weight
        weighted = np.flatnonzero(np.asarray(weight_mask).ravel() > 0)
        self.register_buffer("weighted", torch.from_numpy(weighted), persistent=False)
        self.register_buffer("point_weights", torch.as_tensor(np.asarray(weight_mask, np.float32).ravel()[weighted]),
                             persistent=False)
        self.pixels = int(np.asarray(weight_mask).size)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.posmap(prediction, target)
        if self.shape_weight:
            b = len(prediction)
            p = prediction.reshape(b, 3, -1)[:, :, self.weighted]
            q = target.reshape(b, 3, -1)[:, :, self.weighted]
            aligned = similarity_align(p, q, self.point_weights)
            shape = ((aligned - q).square().sum(1) * self.point_weights).sum() / (b * self.pixels)
            loss = loss + self.shape_weight * shape
        return loss
