"""Face detectors, each behind one call `detect(image (H, W, 3) uint8 RGB, view "front"|"side") -> [Detection]`.

- `auto` (`detectors.auto`, the default): BlazeFace proposes boxes, MTCNN's O-Net confirms the unsure ones,
  frontside's locator answers only where no real face is found and O-Net agrees.
- `blazeface`: MediaPipe's BlazeFace short-range model, run by OpenCV's TFLite importer (weights vendored).
- `onet`: MTCNN's output network (facenet-pytorch's weights in our own module): a face / not-a-face verdict.
- `haar`, `dlib`: OpenCV's cascades; dlib's HOG and MMOD CNN detectors (optional extras).
- frontside's own locator lives in `reconstruct.locator` (68 landmarks, not only a box).

The registry of names and the size handling (a large photo is detected on a shrunk copy) is `reconstruct.detect`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

FRONTAL, PROFILE_LEFT, PROFILE_RIGHT, LANDMARKS = "frontal", "profile-left", "profile-right", "landmarks"


@dataclass(frozen=True)
class Detection:
    """A face box in photo pixels (x, y: top-left corner; +0.5 pixel centres), the detector's score (comparable
    only within one detector) and the kind of box: "frontal", or "profile-left" / "profile-right" (the way the
    nose points, as the viewer sees it), or "landmarks" (the locator's: the box of its 68 landmarks).
    `detector` names what found it ("blazeface", "blazeface+onet" (an unsure BlazeFace box O-Net confirmed),
    "locator", "haar", "dlib-hog", "dlib-cnn"); its first part picks the box's first-crop rule
    (`reconstruct.crop.BOX_TO_LANDMARKS`)."""

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

    def scaled(self, factor: float) -> Detection:
        """The same detection in a photo `factor` times as large (a detection on a shrunk copy, brought back)."""
        landmarks = None if self.landmarks is None else (self.landmarks * np.float32(factor)).astype(np.float32)
        return replace(self, x=self.x * factor, y=self.y * factor, width=self.width * factor,
                       height=self.height * factor, landmarks=landmarks)
