"""Position maps composed from a pose and a face model's coefficients (the structured output of frontside's default
networks).

    posmap(u, v) = project(R (mean(u, v) + sum_k c_k component_k(u, v)))

with R a rotation, then a perspective division by (1 - rho * depth), a scale and an image translation, and z
shifted so its minimum is 0, exactly how a rendered face becomes a position map (the crop is a similarity). The
mean and the components come from `frontside.facemodel.uv_basis` (the model rasterised into UV pixels). `rho` is
the lens's perspective strength relative to the face's size, one learned number (0 is orthographic, as 300W-LP's
fits; the built-in renderer's 12 degree lens is about 0.1).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from frontside.facemodel.uv_basis import UVBasis
from frontside.learning.network_io import posmap_scale
from frontside.learning.networks.options import FUSIONS

POSE_OUTPUTS = 9  # rotation (6: two columns, Gram-Schmidt), log scale (1), image translation (2)
TRAIN_STRIDE = 2  # training composes and scores every second posmap row and column (`PosedBasis`)


def rotation_from_6d(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotation matrices from (B, 6) outputs (the continuous 6-D representation of Zhou et al. 2019:
    the first two columns, orthonormalised)."""
    a, b = x[:, :3], x[:, 3:]
    e1 = F.normalize(a, dim=1)
    e2 = F.normalize(b - (e1 * b).sum(dim=1, keepdim=True) * e1, dim=1)
    return torch.stack([e1, e2, torch.cross(e1, e2, dim=1)], dim=2)


class PosedBasis(nn.Module):
    """Composes (B, 3, S, S) position maps in pixels from pose and coefficient outputs over a `UVBasis`.

    Buffers (rebuilt from the basis, so not in the state dict: a checkpoint stores the basis once, beside the
    weights): the covered pixels' mean (P, 3) and components (K, P, 3) and their flat indices (P,), and the same
    for every `train_stride`-th row and column (training composes that grid only: a quarter of the work at
    stride 2, on maps smooth enough that the loss hardly notices). The only parameter is `rho`, the
    perspective strength.
    """

    def __init__(self, basis: UVBasis, train_stride: int = TRAIN_STRIDE):
        super().__init__()
        self.size, self.train_stride = basis.size, train_stride
        if basis.size % train_stride:
            raise ValueError(f"train_stride {train_stride} does not divide the basis size {basis.size}")
        rows, cols = np.nonzero(basis.mask)
        flat = rows * basis.size + cols
        on_grid = (rows % train_stride == 0) & (cols % train_stride == 0)
        coarse = (rows[on_grid] // train_stride) * (basis.size // train_stride) + cols[on_grid] // train_stride
        mean = basis.mean[rows, cols]
        components = basis.components[:, rows, cols]
        for name, value in (("pixels", flat), ("mean", mean), ("components", components),
                            ("coarse_pixels", coarse), ("coarse_mean", mean[on_grid]),
                            ("coarse_components", components[:, on_grid])):
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(value)), persistent=False)
        self.rho = nn.Parameter(torch.zeros(()))

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def shape(self, coefficients: torch.Tensor, coarse: bool = False) -> torch.Tensor:
        """(B, P, 3) face shapes in the normalised model frame (every `train_stride`-th pixel when coarse)."""
        mean, components = (self.coarse_mean, self.coarse_components) if coarse else (self.mean, self.components)
        offsets = coefficients @ components.reshape(len(components), -1)
        return mean + offsets.view(len(coefficients), -1, 3)

    def forward(self, pose: torch.Tensor, coefficients: torch.Tensor, coarse: bool = False,
                rho: torch.Tensor | None = None) -> torch.Tensor:
        """pose (B, 9): 6-D rotation, log scale (of S), translation (in units of S/2 from the centre);
        coefficients (B, K) in standard deviations; rho (B, 1): each face's own perspective strength (default:
        the learned `rho`). Returns (B, 3, S, S) float32 posmaps in pixels (0 uncovered);
        with coarse, (B, 3, S/t, S/t): every t-th row and column of it (t = `train_stride`; z's shift to 0 is
        then the minimum over those pixels only, at most about a pixel off)."""
        size = self.size
        grid, pixels = (size // self.train_stride, self.coarse_pixels) if coarse else (size, self.pixels)
        rotation = rotation_from_6d(pose[:, :6])
        scale = (size * torch.exp(pose[:, 6]))[:, None]
        shift = pose[:, 7:9] * (size / 2.0) + size / 2.0
        posed = torch.einsum("bij,bpj->bpi", rotation, self.shape(coefficients, coarse))
        depth = posed[..., 2]
        magnify = scale / (1.0 - (self.rho if rho is None else rho) * depth).clamp_min(0.2)
        x = magnify * posed[..., 0] + shift[:, :1]
        y = shift[:, 1:] - magnify * posed[..., 1]  # image y points down
        z = scale * depth
        z = z - z.min(dim=1, keepdim=True).values
        out = posed.new_zeros(len(pose), 3, grid * grid)
        out[:, :, pixels] = torch.stack([x, y, z], dim=1)
        return out.view(len(pose), 3, grid, grid)

    @torch.no_grad()
    def fit_pose(self, posmaps: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """(9,) pose outputs that place the mean shape on the average of `posmaps` (B, 3, S, S) in pixels, by
        Procrustes weighted with `weight` (S, S) (orthographic similarity): a head starts from the constant answer."""
        target = posmaps.mean(0)
        w = weight.reshape(-1)[self.pixels].double()
        q = target.reshape(3, -1)[:, self.pixels].T.double()
        q[:, 1] = -q[:, 1]  # into a y-up frame, like the model's
        p = self.mean.double()
        pc, qc = (w[:, None] * p).sum(0) / w.sum(), (w[:, None] * q).sum(0) / w.sum()
        cov = ((q - qc) * w[:, None]).T @ (p - pc)
        u, s, vt = torch.linalg.svd(cov)
        d = torch.sign(torch.det(u @ vt))
        fix = torch.diag(torch.tensor([1.0, 1.0, float(d)], dtype=torch.float64))
        rotation = u @ fix @ vt
        scale = (s * torch.diagonal(fix)).sum() / ((w[:, None] * (p - pc) ** 2).sum())
        shift = qc - scale * rotation @ pc
        size = self.size
        return torch.cat([rotation[:, 0], rotation[:, 1], torch.log(scale / size)[None],
                          torch.stack([shift[0], -shift[1]]) / (size / 2.0) - 1.0]).float()


class StructuredNet(nn.Module):
    """Images -> pose and coefficients -> a position map composed over the face model's UV basis.

    views:      "both" (front then side, 6 channels) or "front".
    fusion:     "stack": one encoder on the 6 stacked channels (the thesis's input); "siamese": one encoder run on
                each view, their features concatenated; "dual": an encoder of its own for each view, features
                concatenated (siamese and dual cost twice the encoder).
    input_size: the encoder's resolution; larger inputs are resized to it (area-averaged), the output keeps the
                basis's size S.
    Output (B, 3, S, S) = posmap / (1.1 S), the posmap contract every network here keeps.
    """

    def __init__(self, basis: UVBasis, views: str = "both", fusion: str = "stack", input_size: int = 128,
                 widths: tuple[int, ...] = (32, 48, 64, 128, 192), blocks: int = 1, hidden: int = 256,
                 coordinates: bool = False):
        super().__init__()
        from frontside.learning.networks.encoders import ConvEncoder

        if views not in ("both", "front"):
            raise ValueError(f"views must be 'both' or 'front', not {views!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        if input_size % 2 ** len(widths):
            raise ValueError(f"input_size {input_size} must be a multiple of {2 ** len(widths)}")
        self.views, self.fusion, self.input_size = views, fusion, input_size
        self.geometry = PosedBasis(basis)
        stacked = views == "both" and fusion == "stack"
        self.encoder = ConvEncoder(6 if stacked else 3, widths, blocks, coordinates)
        self.side_encoder = (ConvEncoder(3, widths, blocks, coordinates) if views == "both" and fusion == "dual"
                             else None)
        cells = (input_size // 2 ** len(widths)) ** 2
        encodings = 2 if views == "both" and fusion != "stack" else 1
        self.head = nn.Sequential(nn.Linear(self.encoder.out_channels * cells * encodings, hidden),
                                  nn.ReLU(inplace=True),
                                  nn.Linear(hidden, POSE_OUTPUTS + self.geometry.n_components))
        # outputs start at their biases, not at noise: the mean face, frontal, filling 60% of the crop (until
        # `start_at` places it on the data's mean)
        nn.init.normal_(self.head[-1].weight, 0.0, 1e-3)
        nn.init.zeros_(self.head[-1].bias)
        with torch.no_grad():
            self.head[-1].bias[:POSE_OUTPUTS] = torch.tensor([1.0, 0, 0, 0, 1.0, 0, float(np.log(0.6)), 0, 0])

    @property
    def size(self) -> int:
        return self.geometry.size

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 9 + K): pose (`PosedBasis.forward`) then coefficients, from (B, C, H, W) images in [0, 1]."""
        x = x[:, :3] if self.views == "front" else x
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="area")
        if self.views == "both" and self.fusion == "siamese":
            features = self.encoder(torch.cat([x[:, :3], x[:, 3:]])).flatten(1)
            features = torch.cat(features.chunk(2), dim=1)
        elif self.side_encoder is not None:
            features = torch.cat([self.encoder(x[:, :3]).flatten(1), self.side_encoder(x[:, 3:]).flatten(1)], dim=1)
        else:
            features = self.encoder(x).flatten(1)
        return self.head(features)

    def forward(self, x: torch.Tensor, coarse: bool = False) -> torch.Tensor:
        """(B, 3, S, S) posmaps / 1.1 S; with coarse, every `geometry.train_stride`-th row and column only (what
        training scores: `training.train` subsamples its targets alike)."""
        with torch.autocast(x.device.type, enabled=False):  # geometry in float32: bf16 resolves ~1 pixel
            out = self.outputs(x).float()
            return self.geometry(out[:, :POSE_OUTPUTS], out[:, POSE_OUTPUTS:], coarse) / posmap_scale(self.size)

    @torch.no_grad()
    def start_at(self, posmaps: torch.Tensor, weight: torch.Tensor) -> None:
        """Set the pose biases so that, before training, the network answers the mean of `posmaps` (B, 3, S, S)
        in pixels, placed by the mean face (`PosedBasis.fit_pose`)."""
        self.head[-1].bias[:POSE_OUTPUTS] = self.geometry.fit_pose(posmaps, weight)
