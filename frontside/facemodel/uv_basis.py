"""A morphable model in UV space: its mean shape and components rasterised into position-map pixels.

A position map is the barycentric blend of per-vertex xyz over a fixed UV layout, so it is linear in the
vertices: rasterising the mean and each component once gives every face of the model, at any pose, as
`pose(mean_uv + sum_k c_k component_uv[k])`. A structured network predicts the pose and the coefficients and
composes its position map from this basis (`frontside.learning.networks.structured`).

Coordinates are the model's world frame (x right, y up, z toward a frontal camera), centred on the mean shape's
bounding-box centre and divided by its largest extent, so values are O(1) whatever the model's units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from frontside.facemodel.model import MorphableModel


@dataclass(frozen=True)
class UVBasis:
    """mean:        (S, S, 3) float32 mean shape per UV pixel (normalised world frame), 0 where uncovered.
    components:  (K, S, S, 3) float32 displacement of one standard deviation of each component.
    mask:        (S, S) bool UV coverage.
    regions:     (S, S) uint8 `Region` label per UV pixel, 255 uncovered (the loss weight mask's source).
    landmark_uv: (68, 2) float32 UVs of the 68 landmarks.
    names:       K component names ("identity-0", ..., "expression-0", ...).
    length:      the model units per normalised unit (the mean shape's largest extent).
    model:       the model's name.
    """

    mean: np.ndarray
    components: np.ndarray
    mask: np.ndarray
    regions: np.ndarray
    landmark_uv: np.ndarray
    names: tuple[str, ...]
    length: float
    model: str

    @property
    def size(self) -> int:
        return int(self.mask.shape[0])

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])


def uv_basis(model: MorphableModel, size: int = 256, max_identity: int | None = 80,
             max_expression: int | None = 30) -> UVBasis:
    """The model's mean and its leading identity and expression components (by standard deviation) in UV space.

    BFM has 199 + 29 components; past the first ~80 identity ones each moves the face by well under a pixel, so
    they are left to the network's residual and the basis stays small (K x S x S x 3 floats in a checkpoint).
    """
    # the rasteriser (numba) is loaded here, not with the module: a checkpoint's basis is rebuilt without it
    from frontside.facemodel.regions import model_uv_regions
    from frontside.geometry.posmap import uv_to_pixels
    from frontside.geometry.raster import interpolate, rasterize

    tri_index, bary = rasterize(uv_to_pixels(model.uv, size), np.zeros(model.n_vertices), model.triangles,
                                size, size)
    mean = model.mean.astype(np.float64) + (model.exp_mean if model.exp_mean is not None else 0.0)
    lo, hi = mean.min(axis=0), mean.max(axis=0)
    centre, length = (lo + hi) / 2.0, float(np.max(hi - lo))
    if not np.isfinite(length) or length <= 0:
        raise ValueError(f"model {model.name!r}: the mean shape has no extent")

    def leading(basis: np.ndarray, std: np.ndarray, limit: int | None, kind: str) -> list[tuple[str, np.ndarray]]:
        order = np.argsort(-np.abs(std), kind="stable")[:limit]
        return [(f"{kind}-{k}", (basis[:, k] * std[k]).reshape(-1, 3)) for k in order]

    parts = (leading(model.id_basis, model.id_std, max_identity, "identity")
             + leading(model.exp_basis, model.exp_std, max_expression, "expression"))
    components = np.stack([interpolate(v / length, model.triangles, tri_index, bary) for _, v in parts]) \
        if parts else np.zeros((0, size, size, 3), np.float32)
    return UVBasis(
        mean=interpolate((mean - centre) / length, model.triangles, tri_index, bary),
        components=components.astype(np.float32),
        mask=tri_index >= 0,
        regions=model_uv_regions(model, size),
        landmark_uv=np.asarray(model.uv, np.float32)[model.landmarks],
        names=tuple(name for name, _ in parts),
        length=length,
        model=model.name,
    )


def basis_coefficients(basis: UVBasis, identity: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """(K,) float32: a face's coefficients in the basis's order (its names: "identity-k", "expression-k")."""
    out = np.empty(basis.n_components, np.float32)
    for i, name in enumerate(basis.names):
        kind, k = name.rsplit("-", 1)
        out[i] = (identity if kind == "identity" else expression)[int(k)]
    return out


def basis_to_arrays(basis: UVBasis) -> dict:
    """The basis as plain arrays, names and numbers (what a checkpoint stores)."""
    return {"mean": basis.mean, "components": basis.components, "mask": basis.mask, "regions": basis.regions,
            "landmark_uv": basis.landmark_uv, "names": list(basis.names), "length": float(basis.length),
            "model": basis.model}


def basis_from_arrays(d: dict) -> UVBasis:
    """Inverse of `basis_to_arrays` (arrays may arrive as anything `np.asarray` takes)."""
    return UVBasis(mean=np.asarray(d["mean"], np.float32), components=np.asarray(d["components"], np.float32),
                   mask=np.asarray(d["mask"], bool), regions=np.asarray(d["regions"], np.uint8),
                   landmark_uv=np.asarray(d["landmark_uv"], np.float32), names=tuple(d["names"]),
                   length=float(d["length"]), model=str(d["model"]))


def without_components(basis: UVBasis) -> UVBasis:
    """The same layout with no components: what a network that does not compose from the basis keeps (its
    size, regions and landmark UVs)."""
    return UVBasis(basis.mean, basis.components[:0], basis.mask, basis.regions, basis.landmark_uv, (),
                   basis.length, basis.model)
