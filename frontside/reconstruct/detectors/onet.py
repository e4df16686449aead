"""MTCNN's output network (O-Net; Zhang et al. 2016), as a judge: the probability that a 48 x 48 crop is a face.

The weights are facenet-pytorch 2.6.0's `onet.pt` (MIT, Tim Esler 2019), converted from David Sandberg's
TensorFlow port (MIT) of Kaipeng Zhang's original Caffe models (MIT), loaded into the module below (its layer
names are facenet-pytorch's) in float32 (float16 moved verdicts by up to 0.012). Crops are cut as MTCNN cuts them:
integer box corners, zero outside the photo, area-resampled to 48 x 48, (x - 127.5) / 128.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS = Path(__file__).with_name("weights") / "onet.pt"
SIDE = 48


class ONet(nn.Module):
    """(B, 3, 48, 48) -> box correction (B, 4), five points (B, 10), face probability (B, 2) (softmax)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pool = nn.functional.max_pool2d
        x = pool(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = pool(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = pool(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).flatten(1)  # the TensorFlow original's order
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


@functools.cache
def load() -> ONet:
    from frontside.errors import DataIntegrityError

    net = ONet()
    try:
        net.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    except FileNotFoundError:
        raise DataIntegrityError(f"{WEIGHTS}: O-Net's weights are missing (reinstall frontside)") from None
    return net.eval()


def square(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x0 y0 x1 y1 boxes made square on their centres (side: the longer one)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x0, y0 = boxes[:, 0] + (w - side) / 2.0, boxes[:, 1] + (h - side) / 2.0
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


def _crops(photo: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
    """(N, 3, 48, 48) normalised crops of (1, 3, H, W) float photo at (N, 4) boxes."""
    _, _, h, w = photo.shape
    out = []
    for x0, y0, x1, y1 in boxes.astype(int):
        patch = torch.zeros((1, 3, max(1, y1 - y0), max(1, x1 - x0)))
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if sx1 > sx0 and sy1 > sy0:
            patch[:, :, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = photo[:, :, sy0:sy1, sx0:sx1]
        out.append(nn.functional.interpolate(patch, size=(SIDE, SIDE), mode="area"))
    return (torch.cat(out) - 127.5) * 0.0078125


def _photo_tensor(image: np.ndarray) -> torch.Tensor:
    pixels = np.require(image[..., :3], np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])  # torch wants writable memory
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float()


@torch.no_grad()
def face_probability(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) O-Net's face probability on the square of each (N, 4) x0 y0 x1 y1 box of an (H, W, 3) uint8 photo."""
    if len(boxes) == 0:
        return np.zeros(0)
    _, _, prob = load()(_crops(_photo_tensor(image), square(np.asarray(boxes, np.float64))))
    return prob[:, 1].numpy().astype(np.float64)


@torch.no_grad()
def verdict(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) O-Net's verdict on other detectors' boxes (N, 4) x0 y0 x1 y1: the best face probability of three
    framings, since O-Net was trained on MTCNN's own framing: the box's square; the box moved to MTCNN's framing
    (widened 10% and moved down: MTCNN's boxes run to the chin); that one after one step of O-Net's own box
    correction."""
    boxes = np.asarray(boxes, np.float64)
    if len(boxes) == 0:
        return np.zeros(0)
    net, photo, n = load(), _photo_tensor(image), len(boxes)
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    mtcnn = square(boxes + np.concatenate([-0.05 * w, 0.03 * w, 0.05 * w, 0.13 * w], axis=1))
    correction, _, prob = net(_crops(photo, np.concatenate([square(boxes), mtcnn])))
    side = (mtcnn[:, 2:] - mtcnn[:, :2] + 1.0)
    corrected = square(mtcnn + correction.numpy()[n:].astype(np.float64) * np.tile(side, 2))
    _, _, prob_corrected = net(_crops(photo, corrected))
    p = prob[:, 1].numpy().astype(np.float64)
    return np.maximum(np.maximum(p[:n], p[n:]), prob_corrected[:, 1].numpy().astype(np.float64))
