"""UV position maps (thesis eq. 2.10) with PRN's conventions, and their inverse.

A position map stores, at each UV pixel, the xyz of the face surface in the front image's frame. Row 0 is the
top of the UV layout (v = 1, the forehead): a vertex's UV pixel is x = u (S - 1) + 0.5, y = (1 - v)(S - 1) + 0.5.
"""

from __future__ import annotations

import numpy as np

from frontside.geometry.bounds import bounds
from frontside.geometry.raster import rasterize_values


def uv_to_pixels(uv: np.ndarray, size: int = 256) -> np.ndarray:
    """(N, 2) float64 UV-map pixel coordinates (centres at +0.5) of uv (N, 2) in [0, 1], v up."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.column_stack([uv[:, 0] * (size - 1) + 0.5, (1.0 - uv[:, 1]) * (size - 1) + 0.5])


def rasterize_posmap(uv: np.ndarray, triangles: np.ndarray, xyz: np.ndarray,
                     size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise per-vertex xyz (N, 3) into UV space.

    Returns posmap (S, S, 3) float32 (barycentric blend of the covering triangle's corners; z-buffered by xyz's
    z where UV triangles overlap) and mask (S, S) bool.
    """
    xyz = np.asarray(xyz, dtype=np.float32)
    return rasterize_values(uv_to_pixels(uv, size), xyz[:, 2], triangles, xyz, size, size)


def sample_posmap(posmap: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(N, 3) float32: the posmap sampled bilinearly at each vertex's UV pixel (the inverse of rasterising)."""
    size_y, size_x = posmap.shape[:2]
    px = uv_to_pixels(uv, size_x) - 0.5  # to integer pixel-centre coordinates
    x = np.clip(px[:, 0], 0, size_x - 1)
    y = np.clip(px[:, 1], 0, size_y - 1)
    x0 = np.clip(np.floor(x).astype(np.int64), 0, size_x - 2)
    y0 = np.clip(np.floor(y).astype(np.int64), 0, size_y - 2)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    p = posmap.astype(np.float32, copy=False)
    top = p[y0, x0] * (1 - fx) + p[y0, x0 + 1] * fx
    bottom = p[y0 + 1, x0] * (1 - fx) + p[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def posmap_to_mesh(posmap: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A mesh from a position map: covered pixels as vertices (M, 3) float32, the pixel grid as triangles (F, 3).

    Each 2 x 2 block of covered pixels gives two triangles, like PRN's fixed triangle list over its face mask.
    Vertices are ordered row-major over the mask.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    index = np.full((h, w), -1, np.int64)
    index[mask] = np.arange(int(mask.sum()))
    vertices = posmap[mask].astype(np.float32)
    a = index[:-1, :-1]
    b = index[:-1, 1:]
    c = index[1:, :-1]
    d = index[1:, 1:]
    full = (a >= 0) & (b >= 0) & (c >= 0) & (d >= 0)
    # counter-clockwise in image space (y down) seen from the camera side, matching PRN's ordering
    tri1 = np.stack([a[full], c[full], b[full]], axis=1)
    tri2 = np.stack([b[full], c[full], d[full]], axis=1)
    return vertices, np.concatenate([tri1, tri2]).astype(np.int32)


def posmap_to_rgb(posmap: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of a position map: x, y, z each scaled over the covered pixels to 0..255."""
    if mask is None:
        mask = np.any(posmap != 0, axis=-1)
    out = np.zeros(posmap.shape, np.uint8)
    if not mask.any():
        return out
    covered = posmap[mask]
    lo, hi = bounds(covered)
    scaled = (covered - lo) / np.maximum(hi - lo, 1e-6)
    out[mask] = np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out
