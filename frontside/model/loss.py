"""PRN's weighted position-map loss (thesis eq. 3.1) and its UV weight mask (16:4:3:0)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from frontside.datasets.torch_dataset import POSMAP_SCALE  # noqa: F401  (re-exported for inference)
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
