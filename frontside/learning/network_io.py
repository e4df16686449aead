"""The one home of the network's side of the posmap contract: how images become a network input, how a
position map becomes a target, and back.

A dataset of size S holds S x S images and S x S x 3 position maps in the front crop's pixels (PRN's conventions:
`geometry.posmap`). Networks read (C, R, R) float32 images in [0, 1] (front, then side for two-view networks;
R is the network's input size, images are area-resized to it) and answer (3, S, S) position maps divided by
1.1 S, so the targets lie in [0, 1] as PRN normalises them (256 * 1.1 at S = 256).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from frontside.facemodel.model import Region
from frontside.facemodel.regions import UNCOVERED

POSMAP_RANGE = 1.1  # position maps are divided by POSMAP_RANGE * S


def posmap_scale(size: int) -> float:
    """What a size-S position map is divided by for the network (1.1 S; PRN's 256 * 1.1 at 256)."""
    return POSMAP_RANGE * float(size)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(size, size, C) uint8: `image` (H, W, C) area-averaged (or linearly enlarged) to size x size."""
    image = np.asarray(image)
    if image.shape[0] == size and image.shape[1] == size:
        return image
    shrink = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def network_input(front: np.ndarray, side: np.ndarray | None, views: str, input_size: int) -> torch.Tensor:
    """(C, R, R) float32 in [0, 1] from uint8 (H, W, 3) photos: front, then side when views == "both" (or "any"
    and a side is given)."""
    images = [front] if views == "front" or (views == "any" and side is None) else [front, side]
    if any(im is None for im in images):
        raise ValueError("this network needs both a front and a side image")
    stacked = np.concatenate([resize_image(np.asarray(im)[..., :3], input_size) for im in images], axis=2)
    return torch.from_numpy(np.ascontiguousarray(stacked.transpose(2, 0, 1))).float().div_(255.0)


def posmap_target(posmap: np.ndarray, size: int | None = None) -> torch.Tensor:
    """(3, G, G) float32 network target from a (G, G, 3) position map in pixels of an S x S image: the whole map
    (G = S, the default) or every t-th row and column of it (G = S / t; give `size` S)."""
    size = size or posmap.shape[0]
    y = np.asarray(posmap, np.float32).transpose(2, 0, 1) / np.float32(posmap_scale(size))
    return torch.from_numpy(np.ascontiguousarray(y))


def posmaps_from_output(output: torch.Tensor) -> np.ndarray:
    """(B, S, S, 3) float32 position maps in pixels from a network's (B, 3, S, S) output."""
    size = output.shape[-1]
    return output.detach().float().cpu().numpy().transpose(0, 2, 3, 1) * np.float32(posmap_scale(size))


def face_mask(uv_regions: np.ndarray) -> np.ndarray:
    """(S, S) bool: the UV pixels of the face proper (covered, not neck), what meshes and scores keep."""
    regions = np.asarray(uv_regions)
    return (regions != UNCOVERED) & (regions != int(Region.NECK))
