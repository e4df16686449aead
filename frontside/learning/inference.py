"""A trained network as a function: photos in, position map (in pixels of the S x S front crop) out."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from frontside.errors import DataIntegrityError
from frontside.facemodel.uv_basis import UVBasis
from frontside.learning.checkpoint.saving import checkpoint_basis, load_checkpoint, network_from_checkpoint
from frontside.learning.network_io import face_mask, network_input, posmaps_from_output
from frontside.learning.networks.registry import get_arch
from frontside.learning.precision import autocast, resolve_precision


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Predictor:
    """network: the trained module (eval mode); basis: the UV layout it was trained on (size, regions, landmark
    UVs); precision: "bf16" or "fp32" (see `frontside.learning.precision`)."""

    network: torch.nn.Module
    arch: str
    basis: UVBasis
    device: torch.device
    precision: str = "fp32"
    trained_views: int | None = None  # a multi-view network: the views a face it was trained on (1: fronts only)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device | None = None,
                        precision: str = "auto", flip_test: bool = True) -> Predictor:
        """The checkpoint's network, ready to predict. flip_test: a multi-view network reads each photo's landmarks
        from it and from its mirror image and averages them (2-3% lower NME, twice the encoder's work; README
        "Flip test"); other networks have no such step."""
        device = torch.device(device) if device is not None else default_device()
        state = load_checkpoint(path, map_location="cpu")
        basis = checkpoint_basis(state)
        if basis is None:
            raise DataIntegrityError(f"{path}: field 'basis' is missing (a checkpoint from an unfinished writer?)")
        network = network_from_checkpoint(state, path)
        network = network.to(device).to(memory_format=torch.channels_last).eval()
        if hasattr(network, "flip_test"):
            network.flip_test = flip_test
        trained_views = state["config"].get("views") if get_arch(state["arch"]).views == "any" else None
        return cls(network, state["arch"], basis, device, resolve_precision(device, precision, network),
                   trained_views)

    @property
    def views(self) -> str:
        """What it reads: "front", "both" (front and side) or "any" (front and any sides); a multi-view network
        trained on fronts alone reads the front ("front")."""
        views = get_arch(self.arch).views
        return "front" if views == "any" and self.trained_views == 1 else views

    @property
    def size(self) -> int:
        """S: the side of the position maps it answers (and of the crops it was trained on)."""
        return self.basis.size

    @property
    def input_size(self) -> int:
        """The resolution the network reads; photos of any size are resized to it."""
        return getattr(self.network, "input_size", self.size)

    @property
    def landmark_uv(self) -> np.ndarray:
        """(68, 2) UVs of the 68 landmarks: `geometry.posmap.sample_posmap(posmap, landmark_uv)` gives them."""
        return self.basis.landmark_uv

    @property
    def face_mask(self) -> np.ndarray:
        """(S, S) bool: the posmap pixels of the face proper (no neck)."""
        return face_mask(self.basis.regions)

    @torch.no_grad()
    def predict_batch(self, fronts: list[np.ndarray], sides: list[np.ndarray | None]) -> np.ndarray:
        """(B, S, S, 3) float32 position maps in the pixels of the crops given: (N, N, 3) uint8 square crops of any
        size N (resized to the network's input; the map's xyz scaled by N / S, so it lands on the crops given)."""
        batch = torch.stack([network_input(f, s, self.views, self.input_size) for f, s in zip(fronts, sides)])
        with autocast(self.device, self.precision):
            out = self.network(batch.to(self.device).to(memory_format=torch.channels_last))
        scale = self.size / float(fronts[0].shape[0])
        return posmaps_from_output(out) / np.float32(scale) if scale != 1.0 else posmaps_from_output(out)

    def predict(self, front: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """(S, S, 3) float32 position map in the front crop's pixels (see `predict_batch`)."""
        return self.predict_batch([front], [side])[0]

    @torch.no_grad()
    def predict_views(self, views: list[list[np.ndarray]], present: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """(posmaps (B, S, S, 3) float32 in the pixels of the crops given, coefficients (B, K) float32 or None) of
        B faces, each a list of V square uint8 crops, front first (the same V for every face).

        How many views a network reads: a front-only network the first, a two-view network the first two, a
        multi-view one all V (present (B, V) bool marks views to leave out: side-only answers, dropped views).
        Coefficients are the face model's (in its standard deviations, the order of `basis.names`) where the
        network answers them (structured and multi-view networks), else None."""
        from frontside.learning.networks.structured import POSE_OUTPUTS

        arch = self.views
        count = 1 if arch == "front" else 2 if arch == "both" else len(views[0])
        if any(len(v) < count for v in views) or (arch == "any" and len({len(v) for v in views}) > 1):
            raise ValueError(f"{self.arch} reads {count} views a face; every face needs as many")
        batch = torch.stack([torch.cat([network_input(photo, None, "front", self.input_size)
                                        for photo in face[:count]]) for face in views]).to(self.device)
        mask = None if present is None else torch.as_tensor(np.asarray(present)[:, :count], device=self.device)
        coefficients = None
        with autocast(self.device, self.precision):
            if hasattr(self.network, "details"):  # multi-view
                posmaps, details = self.network(batch, present=mask, details=True)
                coefficients = details["coefficients"]
            else:
                posmaps = self.network(batch.to(memory_format=torch.channels_last))
                if hasattr(self.network, "outputs"):
                    coefficients = self.network.outputs(batch)[:, POSE_OUTPUTS:]
        scale = self.size / float(views[0][0].shape[0])
        posmaps = posmaps_from_output(posmaps) / np.float32(scale)
        return posmaps, None if coefficients is None else coefficients.float().cpu().numpy()

