"""Face parts in UV space, for the per-view segmentation maps.

A model's parts are drawn once in its UV layout: the face and the rest of the head from its per-vertex
regions, and brows, eyes, nose, lips and mouth as polygons through its 68 landmarks (which every model
here has, BFM included). A view's pixel then takes the part at the UV its surface point has, so part
boundaries are as sharp as the UV map, not as coarse as the mesh.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from scipy import ndimage

from frontside.facemodel.model import FaceMesh, Region
from frontside.facemodel.regions import UNCOVERED, uv_region_map
from frontside.geometry.posmap import uv_to_pixels
from frontside.store.records import Part

UV_PARTS_SIZE = 512  # the UV part map's side: finer than any image the parts are looked up for


def _parts_polygons(lm: np.ndarray) -> list[tuple[Part, list[np.ndarray]]]:
    """Polygons (K, 2) in UV pixels through landmarks lm (68, 2), in drawing order (later ones win)."""
    def toward(a, b, t):
        return a + t * (b - a)

    eye_centres = [lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)]
    brows = []
    for brow, centre in ((lm[17:22], eye_centres[0]), (lm[22:27], eye_centres[1])):
        # iBUG brow points run along the brow's upper edge: the band reaches 30% of the way to the eye
        brows.append(np.concatenate([brow, toward(brow, centre, 0.3)[::-1]]))
    base = lm[33]
    nose = np.stack([toward(lm[27], lm[39], 0.35), toward(base, lm[31], 1.25), lm[32], lm[33], lm[34],
                     toward(base, lm[35], 1.25), toward(lm[27], lm[42], 0.35)])
    return [(Part.NOSE, [nose]), (Part.BROWS, brows), (Part.EYES, [lm[36:42], lm[42:48]]),
            (Part.LIPS, [lm[48:60]]), (Part.MOUTH, [lm[60:68]])]


def uv_parts(uv: np.ndarray, triangles: np.ndarray, landmarks: np.ndarray, regions: np.ndarray | None,
             size: int = UV_PARTS_SIZE) -> np.ndarray:
    """(size, size) uint8 `Part` of each UV pixel (row 0 = v = 1, as position maps), every pixel labelled:
    pixels outside the UV layout take the nearest covered pixel's part (so a lookup at a chart's rim is safe).

    uv (N, 2), triangles (T, 3), landmarks (68,) vertex indices, regions (N,) `Region` or None (all face)."""
    labels = np.full(len(uv), Region.FACE, np.uint8) if regions is None else np.asarray(regions, np.uint8)
    region_map = uv_region_map(uv, triangles, labels, size=size)
    covered = region_map != UNCOVERED
    parts = np.where(region_map == Region.NECK, Part.HEAD, Part.SKIN).astype(np.uint8)
    lm = uv_to_pixels(np.asarray(uv)[np.asarray(landmarks)], size) - 0.5  # OpenCV's integer pixel centres
    for part, polygons in _parts_polygons(lm):
        drawn = np.zeros((size, size), np.uint8)
        cv2.fillPoly(drawn, [np.round(p * 16).astype(np.int32) for p in polygons], 1, cv2.LINE_8, shift=4)
        parts[(drawn > 0) & covered] = part
    if not covered.all():
        nearest = ndimage.distance_transform_edt(~covered, return_distances=False, return_indices=True)
        parts = parts[nearest[0], nearest[1]]
    return parts


_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_cache_lock = threading.Lock()


def face_uv_parts(face: FaceMesh) -> np.ndarray:
    """`uv_parts` of the face's model, computed once per UV array (faces of a model share theirs)."""
    key = id(face.uv)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is face.uv:  # the same array, not a new one at a recycled address
            return hit[1]
        parts = uv_parts(face.uv, face.triangles, face.landmarks, face.regions)
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = (face.uv, parts)
        return parts


def lookup_parts(parts: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """uint8 `Part` at each UV (..., 2) from a `uv_parts` map (nearest UV pixel)."""
    size = parts.shape[0]
    col = np.clip(np.floor(uv[..., 0] * (size - 1) + 0.5), 0, size - 1).astype(np.intp)
    row = np.clip(np.floor((1.0 - uv[..., 1]) * (size - 1) + 0.5), 0, size - 1).astype(np.intp)
    return parts[row, col]
