"""Face detection in a photo: the face's 68 landmarks (frontside's locator) or a box to make the first crop from.

Detectors, all shipped inside pip packages (nothing downloads at run time):
- "auto" (default): "locator", and "haar" when the locator finds no face.
- "locator": frontside's own two-stage CNN (`reconstruct.locator`, weights shipped in the package, frontside's
  licence), trained on the built-in face model's renders; it gives all 68 landmarks, so the first crop is
  training's own.
- "haar": OpenCV's bundled Haar cascades (opencv-python-headless, BSD-3 / Intel's licence): frontal
  (alt2) and profile (both ways, by mirroring the photo).
- "dlib-hog": dlib's HOG detector, compiled into the `dlib-bin` wheel (Boost licence; extra `[dlib]`).
- "dlib-cnn": dlib's MMOD CNN detector from `face-recognition-models` (CC0; extra `[dlib-cnn]`; that package
  also ships dlib's 68-point predictor, whose iBUG 300-W training data is non-commercial: frontside never loads
  it). Slow on a CPU (seconds per 640 x 480 photo).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from frontside.errors import FrontsideError

FRONTAL, PROFILE_LEFT, PROFILE_RIGHT, LANDMARKS = "frontal", "profile-left", "profile-right", "landmarks"


@dataclass(frozen=True)
class Detection:
    """A face box in photo pixels (x, y: top-left corner; +0.5 pixel centres), the detector's score (comparable
    only within one detector and kind) and the kind of box: "frontal", or "profile-left" / "profile-right" (the
    way the nose points, as the viewer sees it), or "landmarks" (the locator's: the box of its 68 landmarks)."""

    x: float
    y: float
    width: float
    height: float
    score: float
    kind: str
    detector: str
    landmarks: np.ndarray | None = None  # (68, 2) float32 photo pixels, from the locator

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.width, self.height)


# --- OpenCV Haar cascades -------------------------------------------------------------------------------------


@functools.cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise FrontsideError(f"OpenCV's bundled cascade {path} is missing (opencv-python-headless < 5 ships it)")
    return classifier


def _haar_boxes(grey: np.ndarray, cascade: str, kind: str, mirrored: bool) -> list[Detection]:
    source = np.ascontiguousarray(grey[:, ::-1]) if mirrored else grey
    smallest = max(24, min(grey.shape) // 12)  # a face to reconstruct is not a speck: skip the costliest scales
    boxes, _, weights = _cascade(cascade).detectMultiScale3(source, scaleFactor=1.1, minNeighbors=3,
                                                            minSize=(smallest, smallest), outputRejectLevels=True)
    out = []
    for (x, y, w, h), weight in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(weights)):
        left = grey.shape[1] - x - w if mirrored else x
        out.append(Detection(float(left), float(y), float(w), float(h), float(weight), kind, "haar"))
    return out


def _frontal(grey: np.ndarray) -> list[Detection]:
    return _haar_boxes(grey, "haarcascade_frontalface_alt2.xml", FRONTAL, False)


def _profile(grey: np.ndarray) -> list[Detection]:
    """The profile cascade finds faces whose nose points to the viewer's left; on the mirrored photo, right."""
    return (_haar_boxes(grey, "haarcascade_profileface.xml", PROFILE_LEFT, False)
            + _haar_boxes(grey, "haarcascade_profileface.xml", PROFILE_RIGHT, True))


def detect_haar(image: np.ndarray, view: str) -> list[Detection]:
    """The boxes of the first of OpenCV's cascades that finds any: frontal then profile for a front photo,
    profile then frontal for a side photo (scores are comparable only within one cascade)."""
    grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY))
    for stage in ((_frontal, _profile) if view == "front" else (_profile, _frontal)):
        found = stage(grey)
        if found:
            return found
    return []


# --- dlib (optional) -------------------------------------------------------------------------------------------


def _import_dlib(extra: str):
    try:
        import dlib
    except ImportError:
        raise FrontsideError(f"this detector needs dlib: pip install 'frontside[{extra}]'") from None
    return dlib


@functools.cache
def _dlib_hog():
    return _import_dlib("dlib").get_frontal_face_detector()


def detect_dlib_hog(image: np.ndarray, view: str) -> list[Detection]:
    """dlib's HOG detector (its filters cover frontal and turned faces up to about 60 degrees of yaw)."""
    rects, scores, _ = _dlib_hog().run(np.ascontiguousarray(image[..., :3]), 1, -0.2)
    return [Detection(float(r.left()), float(r.top()), float(r.width()), float(r.height()), float(s), FRONTAL,
                      "dlib-hog") for r, s in zip(rects, scores)]


@functools.cache
def _dlib_cnn():
    dlib = _import_dlib("dlib-cnn")
    try:
        import face_recognition_models
    except ImportError:
        raise FrontsideError("the dlib-cnn detector needs its model: pip install 'frontside[dlib-cnn]'") from None
    return dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())


def detect_dlib_cnn(image: np.ndarray, view: str) -> list[Detection]:
    found = _dlib_cnn()(np.ascontiguousarray(image[..., :3]), 0)
    return [Detection(float(d.rect.left()), float(d.rect.top()), float(d.rect.width()), float(d.rect.height()),
                      float(d.confidence), FRONTAL, "dlib-cnn") for d in found]


# --- frontside's locator ----------------------------------------------------------------------------------------


def detect_locator(image: np.ndarray, view: str) -> list[Detection]:
    """The locator's face: the box of its 68 landmarks, the landmarks with it (any view: it was trained on
    front and side renders alike)."""
    from frontside.reconstruct.locator import Locator

    found = Locator.load().locate(image)
    if found is None:
        return []
    return [Detection(*found.box, found.score, LANDMARKS, "locator", found.landmarks)]


def detect_auto(image: np.ndarray, view: str) -> list[Detection]:
    """The locator, and OpenCV's cascades when it finds no face (a real photo it was not trained for)."""
    return detect_locator(image, view) or detect_haar(image, view)


DETECTORS: dict[str, Callable[[np.ndarray, str], list[Detection]]] = {
    "auto": detect_auto,
    "locator": detect_locator,
    "haar": detect_haar,
    "dlib-hog": detect_dlib_hog,
    "dlib-cnn": detect_dlib_cnn,
}


def detect_face(image: np.ndarray, view: str, detector: str = "auto") -> Detection | None:
    """The face to reconstruct in an (H, W, 3) uint8 photo, or None. view: "front" or "side". The detector's
    highest-scoring box wins (a face in a background picture is usually smaller and less certain)."""
    found = DETECTORS[detector](image, view)
    return max(found, key=lambda d: d.score) if found else None
