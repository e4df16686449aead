"""Shaded pictures of meshes on the CPU rasteriser: what a person looks at to judge a reconstruction."""

from __future__ import annotations

import numpy as np

from frontside.geometry.bounds import bounds
from frontside.geometry.raster import rasterize
from frontside.geometry.transforms import rotation_matrix


def shade_mesh(vertices: np.ndarray, triangles: np.ndarray, size: int = 256, yaw: float = 0.0,
               pitch: float = 0.0, fill: float = 0.85, light: tuple[float, float, float] = (0.3, -0.4, 1.0),
               centre: np.ndarray | None = None, extent: float | None = None) -> np.ndarray:
    """(size, size) uint8 grey picture of a mesh, Lambert-shaded, background 255.

    vertices: (N, 3) in the image frame (x right, y down, z toward the viewer), as position maps hold them;
    triangles: (T, 3). The mesh turns by `yaw`/`pitch` degrees about its centre and is framed to `fill` of the
    picture; pass `centre` and `extent` to frame several meshes alike.
    """
    v = np.asarray(vertices, np.float64)
    lo, hi = bounds(v)
    centre = (lo + hi) / 2 if centre is None else np.asarray(centre, np.float64)
    extent = float(np.max(hi - lo)) if extent is None else float(extent)
    # turning a y-down frame: conjugate the y-up rotation by the flip of y
    flip = np.diag([1.0, -1.0, 1.0])
    turn = flip @ rotation_matrix(yaw, pitch, 0.0) @ flip
    p = (v - centre) @ turn.T * (fill * size / max(extent, 1e-9)) + np.array([size / 2, size / 2, 0.0])
    tri_index, _ = rasterize(p[:, :2], p[:, 2], triangles, size, size)
    a, b, c = (p[np.asarray(triangles)[:, k]] for k in range(3))
    normals = np.cross(b - a, c - a)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    normals[normals[:, 2] < 0] *= -1  # either winding faces the viewer
    direction = np.asarray(light, np.float64) / np.linalg.norm(light)
    brightness = 0.25 + 0.75 * np.clip(normals @ direction, 0.0, 1.0)
    out = np.full((size, size), 255, np.uint8)
    covered = tri_index >= 0
    out[covered] = (brightness[tri_index[covered]] * 235).astype(np.uint8)
    return out
