"""A z-buffered triangle rasteriser on the CPU (numba), shared by posmaps, silhouettes and test renders.

Pixel (row, col) is covered by a triangle when its centre (col + 0.5, row + 0.5) lies inside or on the
triangle's edges; either winding works. Where triangles overlap, the larger interpolated depth (nearer the
viewer) wins; on an exact tie the triangle that comes first keeps the pixel, so results are deterministic.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

_scratch = threading.local()


@numba.njit(cache=True, nogil=True)
def _kernel(xy, depth, triangles, values, height, width, zbuf, tri_index, bary, out, write_index):
    """One pass over the triangles. With write_index it records the winning triangle and its barycentric
    weights; with values of C > 0 channels it writes their blend into `out` (the posmap path: no second pass)."""
    n_channels = values.shape[1]
    for t in range(triangles.shape[0]):
        i0, i1, i2 = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        x0, y0 = xy[i0, 0], xy[i0, 1]
        x1, y1 = xy[i1, 0], xy[i1, 1]
        x2, y2 = xy[i2, 0], xy[i2, 1]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area == 0.0 or not np.isfinite(area):
            continue
        inv_area = 1.0 / area
        # pixel centres c + 0.5 inside [min, max]  <=>  c in [ceil(min - 0.5), floor(max - 0.5)]
        cmin = max(int(np.ceil(min(x0, x1, x2) - 0.5)), 0)
        cmax = min(int(np.floor(max(x0, x1, x2) - 0.5)), width - 1)
        rmin = max(int(np.ceil(min(y0, y1, y2) - 0.5)), 0)
        rmax = min(int(np.floor(max(y0, y1, y2) - 0.5)), height - 1)
        d0, d1, d2 = depth[i0], depth[i1], depth[i2]
        for r in range(rmin, rmax + 1):
            py = r + 0.5
            for c in range(cmin, cmax + 1):
                px = c + 0.5
                w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) * inv_area
                w1 = ((x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)) * inv_area
                w2 = 1.0 - w0 - w1
                if w0 < 0.0 or w1 < 0.0 or w2 < -1e-12:
                    continue
                z = w0 * d0 + w1 * d1 + w2 * d2
                if z > zbuf[r, c]:
                    zbuf[r, c] = z
                    if write_index:
                        tri_index[r, c] = t
                        bary[r, c, 0] = w0
                        bary[r, c, 1] = w1
                        bary[r, c, 2] = w2
                    for k in range(n_channels):
                        out[r, c, k] = w0 * values[i0, k] + w1 * values[i1, k] + w2 * values[i2, k]


def _scratch_buffers(height: int, width: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's z-buffer (H, W) float64 and value buffer (H, W, C) float32, kept between calls of one size:
    fresh arrays this large are new pages that the kernel then faults in (~3 ms a call at 512 x 512 x 3)."""
    kept = _scratch.__dict__.setdefault("buffers", {})
    key = (height, width, channels)
    if key not in kept:
        if len(kept) >= 4:  # a few sizes in use at once (a render, labels); more is a caller changing sizes
            kept.clear()
        kept[key] = (np.empty((height, width)), np.empty((height, width, channels), np.float32))
    zbuf, out = kept[key]
    zbuf.fill(-np.inf)
    out.fill(0.0)
    return zbuf, out


def _run(xy, depth, triangles, values, height, width, write_index, scratch=False):
    if scratch:
        zbuf, out = _scratch_buffers(height, width, values.shape[1])
    else:
        zbuf = np.full((height, width), -np.inf)
        out = np.zeros((height, width, values.shape[1]), np.float32)
    tri_index = np.full((height, width) if write_index else (0, 0), -1, np.int32)
    bary = np.zeros((height, width, 3) if write_index else (0, 0, 3), np.float32)
    _kernel(np.ascontiguousarray(xy, dtype=np.float64), np.ascontiguousarray(depth, dtype=np.float64),
            np.ascontiguousarray(triangles, dtype=np.int64), np.ascontiguousarray(values, dtype=np.float32),
            height, width, zbuf, tri_index, bary, out, write_index)
    return zbuf, tri_index, bary, out


def rasterize(xy: np.ndarray, depth: np.ndarray, triangles: np.ndarray, height: int,
              width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise triangles given in pixel coordinates.

    xy: (N, 2) pixel coordinates (x right, y down, pixel centres at +0.5); depth: (N,) larger = nearer;
    triangles: (T, 3) vertex indices. Returns tri_index (H, W) int32 (-1 where empty) and
    bary (H, W, 3) float32 barycentric weights of the winning triangle's corners.
    """
    _, tri_index, bary, _ = _run(xy, depth, triangles, np.zeros((len(xy), 0), np.float32), height, width, True)
    return tri_index, bary


def rasterize_values(xy: np.ndarray, depth: np.ndarray, triangles: np.ndarray, values: np.ndarray, height: int,
                     width: int, *, scratch: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise and interpolate in one pass: (H, W, C) float32 blend of values (N, C), and (H, W) bool coverage.

    Same coverage and z-buffer rule as `rasterize`, about twice as fast as rasterize + interpolate.
    scratch: the blend is written into this thread's reused buffer of that shape, valid until the thread's next
    scratch call: for callers that consume it at once (a render, a view's labels).
    """
    zbuf, _, _, out = _run(xy, depth, triangles, values, height, width, False, scratch)
    return out, np.isfinite(zbuf)


def interpolate(values: np.ndarray, triangles: np.ndarray, tri_index: np.ndarray,
                bary: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 barycentric blend of per-vertex values (N, C); zero where tri_index is -1."""
    values = np.asarray(values, dtype=np.float32)
    squeeze = values.ndim == 1
    if squeeze:
        values = values[:, None]
    out = np.zeros(tri_index.shape + (values.shape[1],), np.float32)
    covered = tri_index >= 0
    corners = np.asarray(triangles)[tri_index[covered]]
    w = bary[covered]
    out[covered] = (values[corners[:, 0]] * w[:, :1] + values[corners[:, 1]] * w[:, 1:2]
                    + values[corners[:, 2]] * w[:, 2:3])
    return out[..., 0] if squeeze else out


def silhouette(xy: np.ndarray, depth: np.ndarray | None, triangles: np.ndarray, height: int,
               width: int) -> np.ndarray:
    """(H, W) bool: the pixels any triangle covers."""
    if depth is None:
        depth = np.zeros(len(xy))
    zbuf, _, _, _ = _run(xy, depth, triangles, np.zeros((len(xy), 0), np.float32), height, width, False)
    return np.isfinite(zbuf)
