"""The default detector: real-face detectors first, frontside's locator only as a checked fallback.

1. BlazeFace (trained on real photos) proposes boxes from score 0.2. A proposal is a face when BlazeFace is sure
   (>= 0.75), or when MTCNN's O-Net, a second real-face network, says so (>= 0.8 on the best of three framings,
   `onet.verdict`). The highest score wins (sure boxes rank above confirmed ones). The box is always the real
   detector's: nothing overrides it.
2. Only where no real face is found does frontside's locator answer (trained on renders of the built-in model,
   it finds turned and rendered faces the real detectors miss), and only when its stage-1 score is >= 0.4 and
   O-Net, on a square 1.3 x its landmark box, gives >= 0.5 for a front photo or >= 0.1 for a side photo (a
   profile scores low with O-Net even when it is one). The locator's own score does not separate faces from
   photos without one; O-Net's check did.

Thresholds chosen by the issue 22 research on real photos that ship with scikit-image and matplotlib (LFW's 100
faces and 100 non-faces, textures, three portraits) and on rendered photos; a 2-fold split of LFW kept held-out
faces 50/50 in both folds and held-out non-faces at 0-2 of 50. `benchmarks/reconstruct.py` measures them again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frontside.reconstruct.detectors import FRONTAL, LANDMARKS, Detection, onet
from frontside.reconstruct.detectors.blazeface import blazeface_boxes


@dataclass(frozen=True)
class AutoThresholds:
    propose: float = 0.2  # BlazeFace proposals from this score
    sure: float = 0.75  # a face without O-Net's check from this BlazeFace score
    confirm: float = 0.8  # O-Net's verdict that confirms an unsure proposal
    locator_score: float = 0.4  # the locator's stage-1 score, where no real face was found
    locator_check_front: float = 0.5  # O-Net on the locator's face in a front photo
    locator_check_side: float = 0.1  # and in a side photo


THRESHOLDS = AutoThresholds()


def _corners(boxes: list[tuple[float, ...]]) -> np.ndarray:
    return np.array([[x, y, x + w, y + h] for x, y, w, h, *_ in boxes], np.float64).reshape(-1, 4)


def real_faces(image: np.ndarray, t: AutoThresholds = THRESHOLDS) -> list[Detection]:
    """BlazeFace's sure faces (score 1 + BlazeFace's) and the unsure ones O-Net confirms (score O-Net's)."""
    proposals = blazeface_boxes(image, t.propose)
    sure = [p for p in proposals if p[4] >= t.sure]
    unsure = [p for p in proposals if p[4] < t.sure]
    found = [Detection(x, y, w, h, 1.0 + s, FRONTAL, "blazeface") for x, y, w, h, s in sure]
    for (x, y, w, h, _), v in zip(unsure, onet.verdict(image, _corners(unsure))):
        if v >= t.confirm:
            found.append(Detection(x, y, w, h, float(v), FRONTAL, "blazeface+onet"))
    return found


def locator_face(image: np.ndarray, view: str, t: AutoThresholds = THRESHOLDS) -> Detection | None:
    """The locator's face, if its stage-1 score and O-Net's check on it pass (see the module's text)."""
    from frontside.reconstruct.locator import Locator

    found = Locator.load().locate(image, min_score=t.locator_score)
    if found is None:
        return None
    x, y, w, h = found.box
    size = (w + h) / 2.0
    cx, cy = x + w / 2.0, y + h / 2.0 - 0.1 * size  # a face box sits a little above the landmarks' centre
    square = np.array([[cx - 0.65 * size, cy - 0.65 * size, cx + 0.65 * size, cy + 0.65 * size]])
    need = t.locator_check_front if view == "front" else t.locator_check_side
    if onet.face_probability(image, square)[0] < need:
        return None
    return Detection(x, y, w, h, found.score, LANDMARKS, "locator", found.landmarks)


def detect_auto(image: np.ndarray, view: str) -> list[Detection]:
    """Real faces (BlazeFace, O-Net's check), else the locator's checked answer, else nothing."""
    image = np.ascontiguousarray(image[..., :3])
    found = real_faces(image)
    if found:
        return found
    fallback = locator_face(image, view)
    return [] if fallback is None else [fallback]
