"""Training items for the multi-view network: a face's N views as one input, and a target in every view.

`ViewTargets` wraps a `MultiViewDataset` (every view with its landmarks, visibility, camera and the face's
coefficients) into the (input, targets) items `Trainer` steps on:

    input   (3N, R, R) float32: the N views stacked, front first; a dropped view is zeros (and absent)
    targets target (3, S/t, S/t): the front's posmap target; landmarks (N, 68, 2) float32 in S-frame pixels;
            visible (N, 68) bool; pose (N, 10) float32: the pose (`landmark_fit.POSE`) placing the face's true
            landmarks on each view's (NaN where the row has no coefficients); coefficients (K,) float32 in the
            order of the network's UV basis (NaN where none); present (N,) bool

N is `n_views`: a face with more views gives its first N, a face with fewer (a two-view dataset, 300W-LP) is padded
with absent views. View dropout (`view_dropout`): each side view is absent with that probability, drawn from
(seed, epoch, index), so one network learns to answer from 1..N views and a run is reproducible in any worker.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from frontside.facemodel.uv_basis import UVBasis, basis_coefficients
from frontside.learning.data import MultiViewDataset
from frontside.learning.networks import landmark_fit


class ViewTargets(Dataset):
    """(input, targets) items of a `MultiViewDataset` for `MultiViewNet` (see the module's docstring).

    basis: the network's UV basis (S the frame of landmarks and poses; the coefficients' order).
    """

    def __init__(self, views: MultiViewDataset, basis: UVBasis, n_views: int, view_dropout: float = 0.0,
                 seed: int = 0):
        if not 0.0 <= view_dropout < 1.0:
            raise ValueError(f"view_dropout must be in [0, 1), not {view_dropout}")
        self.views, self.basis, self.n_views, self.view_dropout, self.seed = views, basis, n_views, view_dropout, seed
        lmk = landmark_fit.landmark_basis(basis)
        self.landmark_mean, self.landmark_components = lmk.mean, lmk.components
        self._poses: dict[int, np.ndarray] = {}  # fitted per face once (a few ms a view)

    def __len__(self) -> int:
        return len(self.views)

    def shard_of(self, index: int) -> int:
        return self.views.shard_of(index)

    def set_epoch(self, epoch: int) -> None:
        self.views.set_epoch(epoch)

    def _pose_targets(self, index: int, landmarks: np.ndarray, coefficients: np.ndarray | None, n: int
                      ) -> np.ndarray:
        """(n, 10): each view's pose fitted to its true landmarks (N, 68, 3), NaN for padding or no coefficients."""
        if index not in self._poses:
            poses = np.full((n, landmark_fit.POSE), np.nan, np.float32)
            if coefficients is not None:
                points = self.landmark_mean + np.einsum("k,kpj->pj", coefficients, self.landmark_components)
                for v, view in enumerate(landmarks):
                    poses[v] = landmark_fit.fit_pose_to_points(points, view, self.basis.size)[0]
            self._poses[index] = poses
        return self._poses[index]

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        epoch, index = key if isinstance(key, tuple) else (self.views.faces.epoch, key)
        index = int(index)
        item = self.views[index]
        have, n = min(len(item["images"]), self.n_views), self.n_views
        size = item["images"].shape[-1]
        images = torch.zeros(n, 3, size, size)
        images[:have] = item["images"][:have]
        landmarks = np.zeros((n, 68, 3), np.float32)  # in the S frame
        landmarks[:have] = item["landmarks"][:have].numpy() * np.float32(self.basis.size / size)
        visible = torch.zeros(n, 68, dtype=torch.bool)
        visible[:have] = item["visible"][:have]
        coefficients = None
        if bool(item["has_coefficients"]):
            coefficients = basis_coefficients(self.basis, item["identity"].numpy(), item["expression"].numpy())
        present = torch.arange(n) < have
        if self.view_dropout and n > 1:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(epoch), index, 21]))
            present[1:] &= torch.from_numpy(rng.random(n - 1) >= self.view_dropout)
        images = images * present[:, None, None, None]
        targets = {"target": item["target"], "landmarks": torch.from_numpy(landmarks[..., :2].copy()),
                   "visible": visible, "present": present,
                   "pose": torch.from_numpy(self._pose_targets(index, landmarks[:have], coefficients, n)),
                   "coefficients": torch.from_numpy(coefficients if coefficients is not None
                                                     else np.full(self.basis.n_components, np.nan, np.float32))}
        return images.reshape(n * 3, size, size), targets
