"""Face detection in a photo: the detectors by name, and the face to reconstruct.

Detectors (`reconstruct.detectors`), all shipped inside frontside or pip packages (nothing downloads at run time):
- "auto" (default): BlazeFace proposes, MTCNN's O-Net confirms, frontside's locator only where no real face is
  found and O-Net agrees (`detectors.auto`).
- "blazeface": MediaPipe's BlazeFace short-range alone (weights vendored, Apache-2.0).
- "locator": frontside's own two-stage CNN (`reconstruct.locator`), trained on the built-in face model's
  renders; it gives all 68 landmarks, so the first crop is training's own. It finds a "face" in most photos
  without one: not for real photos on its own.
- "haar": OpenCV's bundled Haar cascades (opencv-python-headless, BSD-3 / Intel's licence).
- "dlib-hog", "dlib-cnn": dlib's detectors (optional extras `[dlib]`, `[dlib-cnn]`).

A photo larger than `DETECT_SIDE` on its long side is detected on a copy shrunk to it (area-averaged): every
detector here reads faces far smaller than that, and the cascades' and the locator's cost grows with the pixels
(an 8000 x 6000 photo took 5.6 s with haar, 10.5 s with the old auto). The detection is scaled back to the photo,
whose full resolution the crops are cut from.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from frontside.reconstruct.detectors import LANDMARKS, PROFILE_LEFT, Detection
from frontside.reconstruct.detectors.auto import detect_auto
from frontside.reconstruct.detectors.blazeface import detect_blazeface
from frontside.reconstruct.detectors.dlib import detect_dlib_cnn, detect_dlib_hog
from frontside.reconstruct.detectors.haar import detect_haar

__all__ = ["DETECTORS", "DETECT_SIDE", "Detection", "LANDMARKS", "PROFILE_LEFT", "detect_face", "load_detector"]

DETECT_SIDE = 1280


def detect_locator(image: np.ndarray, view: str) -> list[Detection]:
    """The locator's face: the box of its 68 landmarks, the landmarks with it (any view: it was trained on
    front and side renders alike)."""
    from frontside.reconstruct.locator import Locator

    found = Locator.load().locate(image)
    if found is None:
        return []
    return [Detection(*found.box, found.score, LANDMARKS, "locator", found.landmarks)]


DETECTORS: dict[str, Callable[[np.ndarray, str], list[Detection]]] = {
    "auto": detect_auto,
    "blazeface": detect_blazeface,
    "locator": detect_locator,
    "haar": detect_haar,
    "dlib-hog": detect_dlib_hog,
    "dlib-cnn": detect_dlib_cnn,
}


def load_detector(name: str) -> None:
    """Load a detector's weights now (the first photo's detection would otherwise include it)."""
    if name in ("auto", "locator"):
        from frontside.reconstruct.locator import Locator

        Locator.load()
    if name in ("auto", "blazeface"):
        from frontside.reconstruct.detectors import blazeface

        blazeface.load()
    if name == "auto":
        from frontside.reconstruct.detectors import onet

        onet.load()


def shrunk_for_detection(image: np.ndarray, side: int = DETECT_SIDE) -> tuple[np.ndarray, float]:
    """(the photo shrunk to `side` on its long side, or itself if no larger; photo pixels per copy pixel)."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image, 1.0
    factor = max(h, w) / side
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = cv2.resize(np.ascontiguousarray(image[..., :3]), size, interpolation=cv2.INTER_AREA)
    return small, max(h, w) / max(small.shape[:2])


def detect_face(image: np.ndarray, view: str, detector: str = "auto") -> Detection | None:
    """The face to reconstruct in an (H, W, 3) uint8 photo, or None. view: "front" or "side". The detector's
    highest-scoring box wins (a face in a background picture is usually smaller and less certain)."""
    small, factor = shrunk_for_detection(image)
    found = DETECTORS[detector](small, view)
    if not found:
        return None
    best = max(found, key=lambda d: d.score)
    return best if factor == 1.0 else best.scaled(factor)
