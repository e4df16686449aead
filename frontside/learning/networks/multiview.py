"""frontside's multi-view network: any number of photos of a face (front first) -> one face.

    views (B, V, 3, R, R), present (B, V) bool
      -> one shared encoder per present view                                 features h_v (hidden)
      -> per view: a pose (`landmark_fit.POSE`: 6-D rotation, log scale, shift, rho) and 68 landmarks, each the
         expectation of a spatial softmax (integral regression) over stride-4 features, with a visibility logit
      -> coefficients = gate * fit + residual: `landmark_fit.fit` finds the coefficients every view's landmarks
         agree on (and refines each view's pose: bundle adjustment); a residual read from the view-averaged
         features adds what landmarks do not show
      -> the front's position map composed over the face model's UV basis at the front's pose

Why this shape (issue 21, measured in README "Learning"): stacking a front and a side as 6 channels assumes their
pixels correspond and they do not; the network then reads the front and ignores the side. Here each view is
read alone by the same weights, trained in every view against that view's landmarks and camera, and the views
meet only in the fit, where a profile's landmarks are the face's depth. The same weights take 1..N views: a
missing view is simply absent from the fit and the average.

Inputs as every network here: (B, 3V, R, R) images in [0, 1] (V = channels / 3), output (B, 3, S, S) posmaps /
(1.1 S) (`network_io`); `details` gives everything else (named outputs) for the loss and the diagnostics.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from frontside.facemodel.model import MIRRORED_LANDMARKS
from frontside.facemodel.uv_basis import UVBasis
from frontside.learning.network_io import posmap_scale
from frontside.learning.networks import landmark_fit
from frontside.learning.networks.encoders import ConvEncoder
from frontside.learning.networks.landmark_fit import POSE
from frontside.learning.networks.structured import POSE_OUTPUTS, PosedBasis


def split_views(x: torch.Tensor) -> torch.Tensor:
    """(B, 3V, R, R) stacked photos -> (B, V, 3, R, R)."""
    return x.view(len(x), x.shape[1] // 3, 3, *x.shape[2:])


class MultiViewNet(nn.Module):
    """See the module's docstring. basis: the face model's UV basis (S, K); input_size R (a multiple of 32);
    widths: the encoder's; iterations: Gauss-Newton steps of the fit; sigma_px: the landmarks' starting noise
    (learned); pose_sigma: the fit's prior on each view's pose change (radians, log scale, shift).

    Precision: under a bf16 autocast only the encoder and its heads' features run in bf16; the heatmaps'
    expectation, the fit and the face are float32. `--precision auto` keeps this network in float32
    (`auto_precision`): bf16 makes a 128-px step 25% shorter, and its accuracy is measured on one seed pair only
    (README "Training and the networks", "Precision of multiview"); `--precision bf16` asks for it."""

    auto_precision = "fp32"  # what `precision.resolve_precision` gives this network for "auto"

    def __init__(self, basis: UVBasis, input_size: int = 128, widths: tuple[int, ...] = (32, 48, 64, 128, 192),
                 hidden: int = 256, iterations: int = 2, sigma_px: float = 6.0,
                 pose_sigma: tuple[float, float, float] = (0.09, 0.05, 0.03)):
        super().__init__()
        if input_size % 2 ** len(widths) or len(widths) != 5:
            raise ValueError(f"input_size {input_size} must be a multiple of 32 with 5 encoder widths")
        self.input_size, self.iterations, self.pose_sigma = input_size, iterations, tuple(pose_sigma)
        self.geometry = PosedBasis(basis)
        self.geometry.rho.requires_grad_(False)  # each view answers its own perspective strength
        self.frame = basis.size
        k = self.geometry.n_components
        self.encoder = ConvEncoder(3, tuple(widths), 1)
        cells = (input_size // 32) ** 2
        self.embed = nn.Sequential(nn.Linear(self.encoder.out_channels * cells, hidden), nn.ReLU(inplace=True))
        self.pose_head = nn.Linear(hidden, POSE)
        self.visibility_head = nn.Linear(hidden, 68)
        self.residual_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, k))
        c4, c16 = widths[1], widths[3]  # stride-4 and stride-16 features (encoder layers 2 and 6)
        self.heatmap_head = nn.Sequential(nn.Conv2d(c4 + c16, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                          nn.ReLU(inplace=True), nn.Conv2d(64, 64, 3, 1, 1, bias=False),
                                          nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.Conv2d(64, 68, 1))
        for head in (self.pose_head, self.visibility_head, self.residual_head[-1]):
            nn.init.normal_(head.weight, 0.0, 1e-3)
            nn.init.zeros_(head.bias)
        with torch.no_grad():
            self.pose_head.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0, float(np.log(0.6)), 0, 0, 0.1]))
            self.visibility_head.bias.fill_(2.0)
        # how far each coefficient trusts the fit (sigmoid; starts at 0.12): landmarks are noise at first
        self.fit_gate = nn.Parameter(torch.full((k,), -2.0))
        self.log_sigma = nn.Parameter(torch.tensor(float(np.log(sigma_px))))
        lmk = landmark_fit.landmark_basis(basis)
        self.register_buffer("landmark_mean", torch.from_numpy(lmk.mean), persistent=False)
        self.register_buffer("landmark_components", torch.from_numpy(lmk.components), persistent=False)
        self.register_buffer("prior_var", torch.from_numpy(lmk.prior_std ** 2), persistent=False)
        self.register_buffer("mirrored_landmarks", torch.from_numpy(MIRRORED_LANDMARKS), persistent=False)
        # in eval mode, read each photo's landmarks from it and from its mirror image and average them (twice the
        # encoder's work; `Predictor` turns it on: README "Flip test")
        self.flip_test = False

    @property
    def size(self) -> int:
        return self.frame

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, 3, R, R) -> features (M, hidden) and landmark heatmap logits (M, 68, R/4, R/4)."""
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="area")
        feats = x
        for i, layer in enumerate(self.encoder):
            feats = layer(feats)
            if i == 2:
                stride4 = feats
            elif i == 6:
                stride16 = feats
        up = F.interpolate(stride16, size=stride4.shape[-2:], mode="bilinear", align_corners=False)
        return self.embed(feats.flatten(1)), self.heatmap_head(torch.cat([stride4, up], 1))

    def _landmarks(self, logits: torch.Tensor) -> torch.Tensor:
        """Heatmap logits (M, 68, C, C) -> (M, 68, 2) landmarks in S-frame pixels: each heatmap's expectation."""
        m, _, cells, _ = logits.shape
        prob = torch.softmax(logits.flatten(2).float(), -1).view(m, 68, cells, cells)
        centres = (torch.arange(cells, dtype=prob.dtype, device=logits.device) + 0.5) * (self.frame / cells)
        return torch.stack([(prob.sum(2) * centres).sum(-1), (prob.sum(3) * centres).sum(-1)], -1)

    def details(self, x: torch.Tensor, present: torch.Tensor | None = None,
                given: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Named outputs for photos x (B, 3V, R, R) (front first), present (B, V) bool (default: all; the front
        should be there, any other view may be absent); given: answers to put in place of the network's before the
        fit, for diagnostics ("landmarks" (B, V, 68, 2) S-frame pixels, "visibility" (B, V, 68) in [0, 1], "pose"
        (B, V, 10): the truth, to see which stage holds the fit back; `tools.diagnostics.fit_stages`):

        pose (B, V, 10): each view's pose from its head; pose_refined (B, V, 10): after the fit;
        landmarks (B, V, 68, 2) in S-frame pixels; visibility_logit (B, V, 68); heatmap_logits (B, V, 68, R/4, R/4);
        coefficients (B, K): gate * fitted + residual; fitted (B, K); present (B, V). Absent views' rows are 0."""
        views = split_views(x)
        b, v = views.shape[:2]
        if present is None:
            present = torch.ones(b, v, dtype=torch.bool, device=x.device)
        h_flat, logits = self._encode(views[present])  # in the caller's autocast (bf16 where asked)
        # the flip test: each photo's landmarks averaged with its mirror image's
        mirrored = self._encode(views[present].flip(-1))[1] if self.flip_test and not self.training else None
        with torch.autocast(x.device.type, enabled=False):  # the fit and the geometry in float32
            return self._fit(b, v, present, h_flat.float(), logits.float(),
                             None if mirrored is None else mirrored.float(), given)

    def _fit(self, b: int, v: int, present: torch.Tensor, h_flat: torch.Tensor, logits: torch.Tensor,
             mirrored_logits: torch.Tensor | None, given: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        """`details`' outputs from the encoder's features (M, hidden) and heatmap logits (M, 68, R/4, R/4) of the
        M present views (and of their mirror images for the flip test), in float32."""
        xy = self._landmarks(logits)
        if mirrored_logits is not None:
            mirrored = self._landmarks(mirrored_logits)[:, self.mirrored_landmarks]
            xy = 0.5 * (xy + torch.stack([self.frame - mirrored[..., 0], mirrored[..., 1]], -1))
        pose_flat = self.pose_head(h_flat)
        visibility = self.visibility_head(h_flat)
        given = given or {}
        weight = given["visibility"][present].float() if "visibility" in given else torch.sigmoid(visibility)
        xy = given["landmarks"][present].float() if "landmarks" in given else xy
        pose_flat = given["pose"][present].float() if "pose" in given else pose_flat
        owner = torch.arange(b, device=h_flat.device)[:, None].expand(b, v)[present]
        fitted, delta = landmark_fit.fit(self.landmark_mean, self.landmark_components, self.prior_var, xy, weight,
                                         pose_flat, owner, b, torch.exp(self.log_sigma), self.frame, self.iterations,
                                         self.pose_sigma)
        weights = present.float()[..., None]
        h = h_flat.new_zeros(b, v, h_flat.shape[1])
        h[present] = h_flat
        pooled = (h * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        coefficients = torch.sigmoid(self.fit_gate) * fitted + self.residual_head(pooled)

        def per_view(flat: torch.Tensor) -> torch.Tensor:
            out = flat.new_zeros(b, v, *flat.shape[1:])
            out[present] = flat
            return out

        return {"pose": per_view(pose_flat), "pose_refined": per_view(landmark_fit.refine_pose(pose_flat, delta)),
                "landmarks": per_view(xy), "visibility_logit": per_view(visibility),
                "heatmap_logits": per_view(logits.float()), "coefficients": coefficients, "fitted": fitted,
                "present": present}

    def compose(self, pose: torch.Tensor, coefficients: torch.Tensor, coarse: bool = False) -> torch.Tensor:
        """(B, 3, S, S) posmaps / 1.1 S (every `train_stride`-th row and column when coarse) of coefficients (B, K)
        at the front's pose (B, 10), with that pose's own perspective strength."""
        return self.geometry(pose[:, :POSE_OUTPUTS], coefficients, coarse, pose[:, 9:10]) / posmap_scale(self.frame)

    def coefficients(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K) the face model's coefficients (in its standard deviations) from photos (B, 3V, R, R)."""
        return self.details(x, present)["coefficients"]

    def forward(self, x: torch.Tensor, coarse: bool = False, present: torch.Tensor | None = None,
                details: bool = False):
        """(B, 3, S, S) posmaps / 1.1 S of photos (B, 3V, R, R); with details, (posmaps, `details`' dict)."""
        out = self.details(x.float(), present)
        with torch.autocast(x.device.type, enabled=False):
            posmap = self.compose(out["pose"][:, 0], out["coefficients"], coarse)
        return (posmap, out) if details else posmap

    @torch.no_grad()
    def start_at(self, posmaps: torch.Tensor, weight: torch.Tensor) -> None:
        """The pose head's bias at the mean of `posmaps` (B, 3, S, S) in pixels (`PosedBasis.fit_pose`): before
        training the network answers the mean face where the data's faces are on average."""
        self.pose_head.bias[:POSE_OUTPUTS] = self.geometry.fit_pose(posmaps, weight)
