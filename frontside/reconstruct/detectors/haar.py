"""OpenCV's bundled Haar cascades (opencv-python-headless; BSD-3, the cascades under Intel's licence): frontal
(alt2) and profile, both ways (the profile cascade on the mirrored photo finds noses pointing right)."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from frontside.errors import FrontsideError
from frontside.reconstruct.detectors import FRONTAL, PROFILE_LEFT, PROFILE_RIGHT, Detection


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
