"""Crops that match training: the first one from a detection box, then PRN's refinement from landmarks.

Training crops (`datasets.synthetic.crop_view`) are `geometry.crop.landmark_crop` of the view's 68 projected
landmarks: a square on the centre of their bounding box, of side 1.5 x (box width + box height) / 2 (jittered
1.4-1.6 in training; 1.5 without an rng). The locator gives the 68 landmarks, so its first crop is training's. A
box detector's box is not that box, so its first crop maps the detection to the landmark box it usually comes
with (`BOX_TO_LANDMARKS`, one rule per detector, measured by `benchmarks/reconstruct.py`); once the network has
predicted the front face, its 68 landmarks give the training crop itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frontside.geometry.crop import CropJitter, crop_from_landmark_box, crop_to_photo, landmark_crop
from frontside.reconstruct.detectors import FRONTAL, PROFILE_LEFT, Detection


@dataclass(frozen=True)
class BoxToLandmarks:
    """The 68-landmark box relative to a detection box of side d = max(width, height): its centre is the box's
    centre plus (dx * d, dy * d), dx toward the nose for profile boxes, and its size ((w + h) / 2) is size * d."""

    dx: float
    dy: float
    size: float


# Medians of the true landmark box relative to each detector's box (benchmarks/reconstruct.py, `box_to_landmarks`).
# Haar's: the held-out built-in faces rendered as 640 x 480 photos. BlazeFace's: between what its boxes give on the
# rendered fronts, (-0.03, 0.09, 0.87), and on the real portraits and their crops against dlib's landmarks,
# (0.01, 0.02, 0.86-0.90): the issue 22 research's median over both. Its box is tighter than a cascade's (brows to
# chin) and sits on the face's centre: Haar's rule would put its crops too low and too small.
BOX_TO_LANDMARKS: dict[str, dict[str, BoxToLandmarks]] = {
    "haar": {"frontal": BoxToLandmarks(0.03, 0.20, 0.86), "profile": BoxToLandmarks(0.08, 0.18, 0.64)},
    "blazeface": {"frontal": BoxToLandmarks(0.0, 0.05, 0.90)},
}
BOX_RULE_FALLBACK = "haar"  # dlib's boxes, not measured on the current renderer, take Haar's rule


def box_rule(detection: Detection) -> BoxToLandmarks:
    """The rule that maps this detection's box to a landmark box: its detector's ("blazeface+onet" is BlazeFace's
    box), for its kind of box (frontal or profile)."""
    rules = BOX_TO_LANDMARKS.get(detection.detector.split("+")[0], BOX_TO_LANDMARKS[BOX_RULE_FALLBACK])
    kind = "frontal" if detection.kind == FRONTAL else "profile"
    return rules.get(kind, rules["frontal"])


def crop_from_detection(detection: Detection, out_size: int) -> np.ndarray:
    """(3, 3) photo -> crop similarity: the training rule applied to the detection's landmarks (the locator's),
    or else to the landmark box its box implies (`box_rule`)."""
    if detection.landmarks is not None:
        return refined_crop(detection.landmarks, out_size)
    rule = box_rule(detection)
    d = max(detection.width, detection.height)
    toward_nose = -1.0 if detection.kind == PROFILE_LEFT else 1.0
    centre = np.array([detection.x + detection.width / 2.0 + toward_nose * rule.dx * d,
                       detection.y + detection.height / 2.0 + rule.dy * d])
    return crop_from_landmark_box(centre, rule.size * d, out_size)


def refined_crop(landmarks_xy: np.ndarray, out_size: int) -> np.ndarray:
    """(3, 3) photo -> crop similarity from 68 landmarks (68, 2) in photo pixels: exactly training's crop
    (`landmark_crop`, margin 1.5, no jitter)."""
    return landmark_crop(landmarks_xy, out_size=out_size)


def crop_box(a: np.ndarray, out_size: int) -> list[float]:
    """[x, y, side] of the crop square in photo pixels (its top-left corner and side)."""
    corner = crop_to_photo(np.zeros((1, 2)), a)[0]
    return [float(corner[0]), float(corner[1]), float(out_size / np.sqrt(abs(np.linalg.det(a[:2, :2]))))]


def crop_corner_error(found: np.ndarray, true: np.ndarray, size: int = 256) -> float:
    """How far training's crop of the found landmarks (68, 2) is from the crop of the true ones: the largest
    distance, in pixels of a size x size crop, between the true crop's corners and where the found crop puts
    them."""
    a_found, a_true = refined_crop(found, size), refined_crop(true, size)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    placed = corners @ (a_found @ np.linalg.inv(a_true)).T
    return float(np.linalg.norm(placed[:, :2] - corners[:, :2], axis=1).max())



TRAINING_JITTER = CropJitter()  # `landmark_crop`'s default: the jitter training crops are drawn with


def within_training_jitter(found: np.ndarray, true: np.ndarray, jitter: CropJitter = TRAINING_JITTER,
                           margin: float = 1.5) -> bool:
    """Whether training's crop of the found landmarks (N, 2) is one that training's own crop jitter could have
    drawn around the true ones (N, 2): its side within `jitter.margin` of the true landmark box, its centre within
    `jitter.shift` box sizes of the true centre in x and y. The network has seen such crops."""
    found, true = np.asarray(found, np.float64)[:, :2], np.asarray(true, np.float64)[:, :2]
    box_found = float(np.ptp(found, axis=0).sum()) / 2.0
    box_true = float(np.ptp(true, axis=0).sum()) / 2.0
    shift = np.abs((found.min(0) + found.max(0)) - (true.min(0) + true.max(0))) / 2.0 / box_true
    ratio = margin * box_found / box_true
    return bool(jitter.margin[0] <= ratio <= jitter.margin[1] and (shift <= jitter.shift).all())
