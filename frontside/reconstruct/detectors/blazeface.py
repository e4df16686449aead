"""BlazeFace short-range (MediaPipe's `face_detection_short_range.tflite`, Apache-2.0), run by OpenCV's own TFLite
importer (`cv2.dnn.readNetFromTFLite`; no TensorFlow): a 128 x 128 single-shot detector trained on real faces.

MediaPipe's recipe, as its face-detection graph runs it: the photo letterboxed (black bars, centred) into a
square and resized to 128, RGB scaled to [-1, 1]; 896 anchors (a 16 x 16 grid with 2 per cell and an 8 x 8 grid
with 6), each regressing a box centre and size in input pixels (and 6 keypoints, unused here) and a score logit
(clipped to +-100, then a sigmoid); overlapping boxes merged by weighted non-maximum suppression (IoU 0.3; the
cluster's boxes averaged by score, the best score kept). Its box runs from the brows to the chin, tighter than a
cascade's. OpenCV's run matches Google's runtime within 1.4e-6 in scores (measured by the issue 22 research).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from frontside.reconstruct.detectors import FRONTAL, Detection

WEIGHTS = Path(__file__).with_name("weights") / "face_detection_short_range.tflite"
INPUT = 128
MIN_SCORE = 0.5  # MediaPipe's own threshold for this model
NMS_IOU = 0.3


def _anchors(size: int = INPUT, strides: tuple[int, ...] = (8, 16), per_cell: tuple[int, ...] = (2, 6)) -> np.ndarray:
    """(896, 2) anchor centres in [0, 1] (MediaPipe's SSD anchors for this model: fixed size, so centres only)."""
    out = []
    for stride, n in zip(strides, per_cell):
        cells = int(np.ceil(size / stride))
        centres = (np.arange(cells) + 0.5) / cells
        xx, yy = np.meshgrid(centres, centres)
        out.append(np.repeat(np.stack([xx.ravel(), yy.ravel()], axis=1), n, axis=0))
    return np.concatenate(out).astype(np.float64)


ANCHORS = _anchors()


@functools.cache
def load() -> cv2.dnn.Net:
    from frontside.errors import DataIntegrityError

    if not WEIGHTS.is_file():
        raise DataIntegrityError(f"{WEIGHTS}: BlazeFace's weights are missing (reinstall frontside)")
    return cv2.dnn.readNetFromTFLite(str(WEIGHTS))


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted suppression: boxes (N, 4) x0 y0 x1 y1, best first; each cluster of boxes overlapping
    the best remaining one by IoU > NMS_IOU becomes their score-weighted mean with the best score."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    used = np.zeros(len(boxes), bool)
    out = []
    for i in range(len(boxes)):
        if used[i]:
            continue
        lo = np.maximum(boxes[i, :2], boxes[:, :2])
        hi = np.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        cluster = (inter / (area[i] + area - inter + 1e-12) > NMS_IOU) & ~used
        used |= cluster
        weights = scores[cluster][:, None]
        out.append(((boxes[cluster] * weights).sum(axis=0) / weights.sum(), float(scores[i])))
    return out


def blazeface_boxes(image: np.ndarray, min_score: float = MIN_SCORE) -> list[tuple[float, float, float, float, float]]:
    """(x, y, w, h, score) of every face BlazeFace scores at least `min_score` in an (H, W, 3) uint8 RGB photo,
    in photo pixels."""
    h, w = image.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top:top + h, left:left + w] = image[..., :3]
    small = cv2.resize(square, (INPUT, INPUT), interpolation=cv2.INTER_AREA if side > INPUT else cv2.INTER_LINEAR)
    net = load()
    net.setInput((small.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None])
    names = net.getUnconnectedOutLayersNames()
    outputs = {o.shape[-1]: o for o in net.forward(names)}
    logits, regression = outputs[1].reshape(-1).astype(np.float64), outputs[16].reshape(-1, 16)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100.0, 100.0)))
    keep = scores >= min_score
    if not keep.any():
        return []
    r = regression[keep, :4].astype(np.float64) / INPUT
    centre = ANCHORS[keep] + r[:, :2]
    boxes = np.concatenate([centre - r[:, 2:] / 2.0, centre + r[:, 2:] / 2.0], axis=1)
    found = []
    for box, score in _weighted_nms(boxes, scores[keep]):
        x0, y0, x1, y1 = box * side - np.array([left, top, left, top])
        found.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0), score))
    return found


def detect_blazeface(image: np.ndarray, view: str) -> list[Detection]:
    """BlazeFace alone at MediaPipe's threshold (for comparison: `auto` adds O-Net's check and the locator)."""
    return [Detection(x, y, w, h, s, FRONTAL, "blazeface") for x, y, w, h, s in blazeface_boxes(image)]
