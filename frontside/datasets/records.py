"""The training pair: what `make_pair` and the 300W-LP converter produce and what a shard row holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PairMeta:
    """Everything about a pair except its pixels. Angles in degrees (see `renderers.view.Pose`)."""

    face_id: str
    seed: int  # the dataset seed; with face_index it fixes every random choice for this face
    face_index: int
    source: str  # builtin | bfm | facegen | 300wlp
    renderer: str  # pyrender | facegen | 300wlp
    model: str  # the face model's name, e.g. "builtin-v1", "BFM"
    front_yaw: float
    front_pitch: float
    front_roll: float
    side_yaw: float
    side_pitch: float
    side_roll: float
    side: str  # "left" when side_yaw < 0, "right" when side_yaw > 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pair:
    """One training example.

    front, side: (256, 256, 3) uint8 RGB, background composited.
    posmap:      (256, 256, 3) float32, the front view's UV position map (PRN conventions, z min 0).
    mask:        (256, 256) bool, UV coverage of the posmap.
    landmarks:   (68, 3) float32, the 68 landmark vertices in the front image's frame (same frame as posmap).
    meta:        `PairMeta`.
    """

    front: np.ndarray
    side: np.ndarray
    posmap: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    meta: PairMeta
