"""A picture of pairs for a person to check at a glance that labels fit the pixels."""

from __future__ import annotations

import numpy as np

from frontside.datasets.records import Pair
from frontside.pictures import posmap_to_rgb

# iBUG landmark groups and the colour each is drawn in
_GROUPS = [(range(0, 17), (255, 255, 0)), (range(17, 27), (255, 128, 0)), (range(27, 36), (0, 255, 255)),
           (range(36, 48), (0, 255, 0)), (range(48, 68), (255, 0, 255))]


def draw_landmarks(image: np.ndarray, landmarks_xy: np.ndarray, radius: int = 1) -> np.ndarray:
    """(H, W, 3) uint8 copy of `image` with the 68 landmarks drawn as small coloured squares."""
    out = image.copy()
    h, w = out.shape[:2]
    for indices, colour in _GROUPS:
        for i in indices:
            x, y = int(landmarks_xy[i, 0]), int(landmarks_xy[i, 1])  # +0.5 centres: floor is the pixel
            out[max(y - radius, 0):min(y + radius + 1, h), max(x - radius, 0):min(x + radius + 1, w)] = colour
    return out


def pair_grid(pairs: list[Pair]) -> np.ndarray:
    """(256 n, 1024, 3) uint8: one row per pair: front with landmarks, front, side, posmap xyz as colours."""
    rows = []
    for pair in pairs:
        rows.append(np.concatenate([
            draw_landmarks(pair.front, pair.landmarks),
            pair.front,
            pair.side,
            posmap_to_rgb(pair.posmap, pair.mask),
        ], axis=1))
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, 1024, 3), np.uint8)
