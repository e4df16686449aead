"""A picture of faces for a person to check at a glance that labels fit the pixels: every view of each face."""

from __future__ import annotations

import numpy as np

from frontside.geometry.posmap import posmap_to_rgb
from frontside.store.records import Face, ViewLabels, parts_to_rgb

# iBUG landmark groups and the colour each is drawn in
_GROUPS = [(range(0, 17), (255, 255, 0)), (range(17, 27), (255, 128, 0)), (range(27, 36), (0, 255, 255)),
           (range(36, 48), (0, 255, 0)), (range(48, 68), (255, 0, 255))]
_HIDDEN = (128, 128, 128)
VIEW_TILES = ("+ landmarks", "parts", "depth")  # per view, front first; then the posmap


def draw_landmarks(image: np.ndarray, landmarks_xy: np.ndarray, radius: int = 1,
                   visible: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 copy of `image` with the 68 landmarks drawn as small coloured squares; with `visible`
    (68,) bool, hidden ones as single grey pixels."""
    out = image.copy()
    h, w = out.shape[:2]
    for indices, colour in _GROUPS:
        for i in indices:
            x, y = int(np.floor(landmarks_xy[i, 0])), int(np.floor(landmarks_xy[i, 1]))  # +0.5 centres: floor
            r, c = (radius, colour) if visible is None or visible[i] else (0, _HIDDEN)
            out[max(y - r, 0):min(y + r + 1, h), max(x - r, 0):min(x + r + 1, w)] = c
    return out


def depth_to_rgb(depth: np.ndarray | None, size: int) -> np.ndarray:
    """(S, S, 3) uint8 picture of a depth map: near bright yellow, far dark blue (viridis), no face black."""
    from matplotlib import colormaps

    out = np.zeros((size, size, 3), np.uint8)
    if depth is None:
        return out
    face = np.isfinite(depth)
    if face.any():
        z = depth[face]
        scaled = (z - z.min()) / max(float(np.ptp(z)), 1e-6)
        out[face] = (colormaps["viridis"](scaled)[:, :3] * 255 + 0.5).astype(np.uint8)
    return out


def _view_tiles(image: np.ndarray, labels: ViewLabels | None, fallback_landmarks: np.ndarray | None) -> list:
    size = image.shape[0]
    if labels is None:
        drawn = image if fallback_landmarks is None else draw_landmarks(image, fallback_landmarks)
        return [drawn, np.zeros_like(image), np.zeros_like(image)]
    return [draw_landmarks(image, labels.landmarks, visible=labels.visible), parts_to_rgb(labels.segmentation),
            depth_to_rgb(labels.depth, size)]


def face_grid(faces: list[Face]) -> np.ndarray:
    """(S n, (3 N + 1) S, 3) uint8, N the most views a face has: one row per face, and for each of its views (front
    first) the `VIEW_TILES`: the view with its landmarks (hidden ones grey), its parts and its depth as colours;
    then the posmap's xyz as colours. Missing labels, and the views a face has fewer of, are black tiles."""
    if not faces:
        return np.zeros((0, 7 * 256, 3), np.uint8)
    most = max(len(face.views) for face in faces)
    rows = []
    for face in faces:
        tiles = []
        for k, view in enumerate(face.views):
            tiles += _view_tiles(view.image, view.labels, face.landmarks if k == 0 else None)
        tiles += [np.zeros_like(face.front)] * (len(VIEW_TILES) * (most - len(face.views)))
        rows.append(np.concatenate(tiles + [posmap_to_rgb(face.posmap, face.mask)], axis=1))
    return np.concatenate(rows, axis=0)
