"""A picture of pairs for a person to check at a glance that labels fit the pixels."""

from __future__ import annotations

import numpy as np

from frontside.geometry.posmap import posmap_to_rgb
from frontside.store.records import Pair, ViewLabels, parts_to_rgb

# iBUG landmark groups and the colour each is drawn in
_GROUPS = [(range(0, 17), (255, 255, 0)), (range(17, 27), (255, 128, 0)), (range(27, 36), (0, 255, 255)),
           (range(36, 48), (0, 255, 0)), (range(48, 68), (255, 0, 255))]
_HIDDEN = (128, 128, 128)
TILES = ("front + landmarks", "front parts", "front depth", "side + landmarks", "side parts", "side depth", "posmap")


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


def pair_grid(pairs: list[Pair]) -> np.ndarray:
    """(S n, 7 S, 3) uint8: one row per pair with the `TILES`: each view with its landmarks (hidden ones grey),
    its parts and its depth as colours, then the posmap's xyz as colours. Missing labels are black tiles."""
    rows = []
    for pair in pairs:
        tiles = (_view_tiles(pair.front, pair.front_view, pair.landmarks) + _view_tiles(pair.side, pair.side_view, None)
                 + [posmap_to_rgb(pair.posmap, pair.mask)])
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, 7 * 256, 3), np.uint8)
