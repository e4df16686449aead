"""PRN's 300W-LP crop: a square around the 68 landmarks, warped to 256 x 256 by a similarity transform.

The same transform moves the vertices, so image and label stay aligned. All coordinates use the +0.5 pixel-centre
convention; OpenCV's integer-centre convention is converted at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropJitter:
    """Random crop variation, as PRN's training crops: box size times `margin` in [lo, hi], centre shifted by up
    to `shift` times the box size in x and y. The defaults follow PRN (margin 1.5 ± ~10%, shift ≤ 5%)."""

    margin: tuple[float, float] = (1.4, 1.6)
    shift: float = 0.05


def landmark_crop(landmarks_xy: np.ndarray, out_size: int = 256, rng: np.random.Generator | None = None,
                  margin: float = 1.5, jitter: CropJitter = CropJitter()) -> np.ndarray:
    """(3, 3) float64 similarity from image pixels to crop pixels.

    The crop is a square centred on the landmarks' bounding box, of side (box width + box height) / 2 times
    `margin` (with rng: a margin drawn from `jitter.margin` and a random centre shift). landmarks_xy: (68, 2).
    """
    pts = np.asarray(landmarks_xy, dtype=np.float64)[:, :2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2.0
    side = float((hi - lo).sum()) / 2.0
    if rng is not None:
        margin = float(rng.uniform(*jitter.margin))
        centre = centre + rng.uniform(-jitter.shift, jitter.shift, size=2) * side
    side = max(side * margin, 1e-6)
    scale = out_size / side
    a = np.eye(3)
    a[0, 0] = a[1, 1] = scale
    a[:2, 2] = out_size / 2.0 - scale * centre
    return a


def transform_scale(a: np.ndarray) -> float:
    """The uniform scale of a 2-D similarity (3, 3)."""
    return float(np.sqrt(abs(np.linalg.det(a[:2, :2]))))


def warp_image(image: np.ndarray, a: np.ndarray, out_size: int = 256,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """(out, out, C) image warped by the similarity `a` (image px -> crop px); outside the image is 0."""
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    a_cv = np.linalg.inv(shift) @ np.asarray(a, dtype=np.float64) @ shift  # integer-centre frames
    return cv2.warpAffine(np.ascontiguousarray(image), a_cv[:2], (out_size, out_size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_image_shrinking(image: np.ndarray, a: np.ndarray, out_size: int = 256) -> np.ndarray:
    """`warp_image`, for crops that shrink the photo: where the similarity `a` scales by less than 1/2 (a face
    of 1,000 px into a 256 crop), the crop's region is first area-averaged to twice the crop's resolution, so the
    bilinear warp does not skip pixels (aliasing); only the region is resampled, not the whole photo."""
    scale = transform_scale(a)
    if scale >= 0.5:
        return warp_image(image, a, out_size)
    h, w = image.shape[:2]
    corners = crop_to_photo(np.array([[0.0, 0.0], [out_size, 0.0], [0.0, out_size], [out_size, out_size]]), a)
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)) - 2, 0).astype(int)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)) + 2, [w, h]).astype(int)
    if x1 <= x0 or y1 <= y0:
        return warp_image(image, a, out_size)  # the crop lies off the photo: all zeros either way
    size = (max(1, round((x1 - x0) * 2 * scale)), max(1, round((y1 - y0) * 2 * scale)))
    region = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]), size, interpolation=cv2.INTER_AREA)
    to_region = np.array([[size[0] / (x1 - x0), 0.0, -x0 * size[0] / (x1 - x0)],
                          [0.0, size[1] / (y1 - y0), -y0 * size[1] / (y1 - y0)], [0.0, 0.0, 1.0]])
    return warp_image(region, np.asarray(a, np.float64) @ np.linalg.inv(to_region), out_size)


def warp_vertices(vertices: np.ndarray, a: np.ndarray, shift_depth: bool = True) -> np.ndarray:
    """(N, 3) float32: x, y through the similarity `a`, z scaled by its scale (and shifted so min z is 0)."""
    v = np.asarray(vertices, dtype=np.float64)
    out = np.empty_like(v)
    out[:, :2] = v[:, :2] @ a[:2, :2].T + a[:2, 2]
    out[:, 2] = v[:, 2] * transform_scale(a)
    if shift_depth:
        out[:, 2] -= out[:, 2].min()
    return out.astype(np.float32)


def crop_from_landmark_box(centre: np.ndarray, size: float, out_size: int) -> np.ndarray:
    """(3, 3) photo -> crop similarity of the training rule for a landmark box with this centre (2,) and size
    ((w + h) / 2): `landmark_crop` itself, given the box's two corners."""
    half = np.array([size, size]) / 2.0
    return landmark_crop(np.stack([centre - half, centre + half]), out_size=out_size)


def crop_to_photo(points: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(N, 2) float64 photo pixels of crop pixels (N, >= 2) under the photo -> crop similarity `a`."""
    inverse = np.linalg.inv(a)
    p = np.asarray(points, np.float64)[:, :2]
    return p @ inverse[:2, :2].T + inverse[:2, 2]
