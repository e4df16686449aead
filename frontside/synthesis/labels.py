"""Per-view labels from the geometry: segmentation, depth, landmarks and their visibility.

One pass of the rasteriser over the mesh in the view's crop frame, sampling at pixel centres as the position
map does, interpolating each pixel's UV and depth. The labels come from the vertices, never from a renderer's
pixels, so every renderer gets the same labels for the same camera (and the tests check that its pixels
agree with them).
"""

from __future__ import annotations

import numpy as np

from frontside.facemodel.model import FaceMesh
from frontside.geometry.raster import rasterize_values
from frontside.renderers.camera import Camera
from frontside.renderers.lighting import Lighting
from frontside.store.records import Part, ViewLabels
from frontside.synthesis.segmentation import face_uv_parts, lookup_parts

VISIBILITY_TOLERANCE = 0.02  # of the image side: a landmark this far behind the visible surface still counts


def shift_depth(vertices: np.ndarray) -> np.ndarray:
    """(N, 3) float32 copy with z shifted so its minimum is 0 (the position map's convention)."""
    out = np.array(vertices, np.float32)
    out[:, 2] -= out[:, 2].min()
    return out


def view_labels(face: FaceMesh, vertices: np.ndarray, size: int, camera: Camera | None = None,
                lighting: Lighting | None = None, depth: bool = True) -> ViewLabels:
    """Labels of one view: vertices (N, 3) float32 are the face's vertices in the view's crop frame, z toward
    the camera and shifted to a minimum of 0 (`shift_depth`); size is the crop's side."""
    values = np.column_stack([face.uv, vertices[:, 2]]).astype(np.float32)
    surface, covered = rasterize_values(vertices[:, :2], vertices[:, 2], face.triangles, values, size, size,
                                         scratch=True)
    segmentation = np.where(covered, lookup_parts(face_uv_parts(face), surface[..., :2]), Part.BACKGROUND)
    z = np.where(covered, surface[..., 2], np.nan).astype(np.float32)
    landmarks = vertices[np.asarray(face.landmarks)].astype(np.float32)
    return ViewLabels(segmentation=segmentation.astype(np.uint8), depth=z if depth else None, landmarks=landmarks,
                      visible=landmark_visibility(landmarks, z), camera=camera, lighting=lighting)


def landmark_visibility(landmarks: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(68,) bool: each landmark (68, 3) lies inside the depth map (S, S) and no more than
    `VISIBILITY_TOLERANCE` x S behind the surface seen at its pixel."""
    size = depth.shape[0]
    col = np.floor(landmarks[:, 0]).astype(np.int64)
    row = np.floor(landmarks[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    seen = np.full(len(landmarks), np.nan, np.float32)
    seen[inside] = depth[row[inside], col[inside]]
    with np.errstate(invalid="ignore"):
        in_front = ~(landmarks[:, 2] < seen - VISIBILITY_TOLERANCE * size)  # NaN (no surface there) counts as seen
    return inside & in_front
