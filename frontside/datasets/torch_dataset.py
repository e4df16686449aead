"""A PyTorch Dataset over shard folders: random access by (shard, row), safe with DataLoader workers.

Augmentation follows thesis 2.3: a rotation within ±45° applied to both images and to the position map's
x, y about the image centre; a per-channel colour scale in 0.9-1.2; random black occlusion boxes.
Normalisation follows PRN: images / 255, position map / (256 * 1.1).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from frontside.datasets.shards import ShardInfo, decode_row, list_shards, read_shard

POSMAP_SCALE = 256.0 * 1.1  # PRN divides position maps by this so targets lie in [0, 1]


@dataclass(frozen=True)
class Augmentation:
    rotation_deg: float = 45.0
    colour_scale: tuple[float, float] = (0.9, 1.2)
    occlusion_probability: float = 0.5
    max_occlusion_fraction: float = 0.35


def rotation_about_centre(angle_deg: float, size: int = 256) -> np.ndarray:
    """(2, 3) affine rotating pixel coordinates (+0.5 centres) by angle_deg counter-clockwise on screen."""
    c = size / 2.0
    a = np.deg2rad(angle_deg)
    r = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # y down: counter-clockwise on screen
    return np.column_stack([r, np.array([c, c]) - r @ np.array([c, c])])


def rotate_image(image: np.ndarray, affine: np.ndarray) -> np.ndarray:
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    full = np.vstack([affine, [0, 0, 1]])
    cv = np.linalg.inv(shift) @ full @ shift
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv[:2], (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def rotate_posmap(posmap: np.ndarray, affine: np.ndarray) -> np.ndarray:
    out = posmap.copy()
    out[..., :2] = posmap[..., :2] @ affine[:, :2].T + affine[:, 2]
    return out


class ShardDataset(Dataset):
    """Pairs from one or more dataset folders.

    views: "both" -> (6, 256, 256) input (front then side); "front" -> (3, 256, 256).
    indices: optional subset of global row indices (for a train/validation split).
    Each worker process opens its own files lazily and keeps the last `cache_tables` shards decoded.
    """

    def __init__(self, roots: str | list[str], views: str = "both", augment: bool = False, seed: int = 0,
                 augmentation: Augmentation = Augmentation(), indices: list[int] | None = None,
                 cache_tables: int = 4):
        self.roots = [roots] if isinstance(roots, str) else list(roots)
        if views not in ("both", "front"):
            raise ValueError(f"views must be 'both' or 'front', not {views!r}")
        self.views, self.augment, self.seed, self.augmentation = views, augment, seed, augmentation
        self.shards: list[tuple[str, ShardInfo]] = [s for root in self.roots for s in list_shards(root)]
        self.rows = [(k, r) for k, (_, info) in enumerate(self.shards) for r in range(info.rows)]
        if indices is not None:
            self.rows = [self.rows[i] for i in indices]
        self.cache_tables = cache_tables
        self._tables: OrderedDict[int, object] = OrderedDict()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_tables"] = OrderedDict()  # never ship open tables to workers
        return state

    def set_epoch(self, epoch: int) -> None:
        """Different augmentations each epoch, the same ones for the same (seed, epoch, index)."""
        self.epoch = epoch

    def _table(self, shard: int):
        if shard in self._tables:
            self._tables.move_to_end(shard)
            return self._tables[shard]
        url, info = self.shards[shard]
        table = read_shard(url, info)
        self._tables[shard] = table
        while len(self._tables) > self.cache_tables:
            self._tables.popitem(last=False)
        return table

    def pair(self, index: int):
        shard, row = self.rows[index]
        return decode_row(self._table(shard), row)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.pair(index)
        front, side, posmap = pair.front, pair.side, pair.posmap
        if self.augment:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, index]))
            front, side, posmap = self._augmented(rng, front, side, posmap)
        images = [front] if self.views == "front" else [front, side]
        x = np.concatenate([np.asarray(im, np.float32) / 255.0 for im in images], axis=2).transpose(2, 0, 1)
        y = (posmap / POSMAP_SCALE).transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y, np.float32))

    def _augmented(self, rng: np.random.Generator, front: np.ndarray, side: np.ndarray, posmap: np.ndarray):
        aug = self.augmentation
        affine = rotation_about_centre(float(rng.uniform(-aug.rotation_deg, aug.rotation_deg)), front.shape[0])
        front, side = rotate_image(front, affine), rotate_image(side, affine)
        posmap = rotate_posmap(posmap, affine)
        out = []
        for image in (front, side):
            scaled = image.astype(np.float32) * rng.uniform(*aug.colour_scale, size=3)
            if rng.random() < aug.occlusion_probability:
                h, w = image.shape[:2]
                bh, bw = (rng.uniform(0.05, aug.max_occlusion_fraction, size=2) * [h, w]).astype(int)
                top, left = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
                scaled[top:top + bh, left:left + bw] = 0
            out.append(np.clip(scaled, 0, 255).astype(np.uint8))
        return out[0], out[1], posmap


def make_loader(dataset: ShardDataset, batch_size: int, shuffle: bool = False, workers: int = 0, seed: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader whose worker processes are spawned, not forked: forking a process that holds Prefect's
    threads and event loop, or OpenGL contexts, kills workers at random. Workers persist across epochs, so the
    spawn cost (~2 s) is paid once."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, drop_last=drop_last,
                      generator=torch.Generator().manual_seed(seed),
                      multiprocessing_context="spawn" if workers > 0 else None, persistent_workers=workers > 0)
