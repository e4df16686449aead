"""A trained network as a function: images in, position map (in pixels) out."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from frontside.model.checkpoint import load_checkpoint
from frontside.model.loss import POSMAP_SCALE
from frontside.model.precision import autocast, resolve_precision
from frontside.model.registry import build, get_arch


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def images_to_input(front: np.ndarray, side: np.ndarray | None, views: str) -> torch.Tensor:
    """(C, 256, 256) float32 network input from uint8 (256, 256, 3) images: front, then side when views == "both"."""
    planes = [front] if views == "front" else [front, side]
    if any(p is None for p in planes):
        raise ValueError("this network needs both a front and a side image")
    stacked = np.concatenate([np.asarray(p, np.float32)[..., :3] / 255.0 for p in planes], axis=2)
    return torch.from_numpy(np.ascontiguousarray(stacked.transpose(2, 0, 1)))


@dataclass
class Predictor:
    network: torch.nn.Module
    arch: str
    device: torch.device
    precision: str = "fp32"  # "bf16" or "fp32" (see frontside.model.precision)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device | None = None,
                        precision: str = "auto") -> Predictor:
        device = torch.device(device) if device is not None else default_device()
        state = load_checkpoint(path, map_location=device)
        network = build(state["arch"], float(state.get("width", 1.0)), decoder_norm=state.get("decoder_norm"))
        network.load_state_dict(state["model"])
        network = network.to(device).to(memory_format=torch.channels_last).eval()
        return cls(network, state["arch"], device, resolve_precision(device, precision))

    @property
    def views(self) -> str:
        return get_arch(self.arch).views

    @torch.no_grad()
    def predict_batch(self, fronts: list[np.ndarray], sides: list[np.ndarray | None]) -> np.ndarray:
        """(B, 256, 256, 3) float32 position maps in pixels."""
        batch = torch.stack([images_to_input(f, s, self.views) for f, s in zip(fronts, sides)]).to(self.device)
        with autocast(self.device, self.precision):
            out = self.network(batch.to(memory_format=torch.channels_last))
        out = out.float().cpu().numpy().transpose(0, 2, 3, 1)
        return out * POSMAP_SCALE

    def predict(self, front: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """(256, 256, 3) float32 position map in the front image's pixels."""
        return self.predict_batch([front], [side])[0]
