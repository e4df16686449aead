"""Region labels in UV space: the source of PRN's loss weight mask (16:4:3:0)."""

from __future__ import annotations

import numpy as np

from frontside.facemodel.model import Region
from frontside.geometry.posmap import uv_to_pixels
from frontside.geometry.raster import rasterize

UNCOVERED = 255


def uv_region_map(uv: np.ndarray, triangles: np.ndarray, regions: np.ndarray, size: int = 256,
                  landmarks: np.ndarray | None = None, landmark_radius: float = 2.0) -> np.ndarray:
    """(size, size) uint8: the `Region` of each UV pixel, 255 where no triangle covers it.

    A pixel takes the label of its triangle's corner with the largest barycentric weight. With `landmarks`
    (68,), a disc of `landmark_radius` pixels round each landmark's UV pixel is LANDMARK, as PRN's mask has dots.
    """
    tri_index, bary = rasterize(uv_to_pixels(uv, size), np.zeros(len(uv)), triangles, size, size)
    out = np.full((size, size), UNCOVERED, np.uint8)
    covered = tri_index >= 0
    corners = np.asarray(triangles)[tri_index[covered]]
    nearest = corners[np.arange(len(corners)), np.argmax(bary[covered], axis=1)]
    out[covered] = np.asarray(regions, np.uint8)[nearest]
    if landmarks is not None:
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        for x, y in uv_to_pixels(np.asarray(uv)[landmarks], size):
            disc = (xx - x) ** 2 + (yy - y) ** 2 <= landmark_radius ** 2
            out[disc & covered] = Region.LANDMARK
    return out


def model_uv_regions(model, size: int = 256) -> np.ndarray:
    """(size, size) uint8: a face model's region map as datasets store it (`uv_regions.png`) and the loss weighs
    it: its vertex regions, and PRN's landmark dots, 2 pixels in radius at 256 and the same share of the face at
    any size. `model`: a `MorphableModel`."""
    return uv_region_map(model.uv, model.triangles, model.regions, size=size, landmarks=model.landmarks,
                         landmark_radius=2.0 * size / 256)
