"""The training pair: what `make_pair` and the 300W-LP converter produce and what a shard row holds."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import numpy as np

from frontside.renderers.camera import Camera
from frontside.renderers.lighting import Lighting


class Part(enum.IntEnum):
    """Segmentation label of a pixel."""

    BACKGROUND = 0
    SKIN = 1  # the face (the loss's face region)
    HEAD = 2  # the rest of the head: scalp and hair, ears, neck
    BROWS = 3
    EYES = 4
    NOSE = 5
    LIPS = 6
    MOUTH = 7  # inside the inner lip contour (on a model whose mouth is closed, the line between the lips)


# a colour per part for pictures (background black)
PART_COLOURS = np.array([[0, 0, 0], [224, 172, 140], [120, 90, 200], [90, 60, 30], [255, 255, 255],
                         [60, 200, 80], [220, 40, 60], [255, 210, 0]], np.uint8)


def parts_to_rgb(segmentation: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 picture of a segmentation map."""
    return PART_COLOURS[np.clip(segmentation, 0, len(PART_COLOURS) - 1)]


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
class ViewLabels:
    """What one view's pixels show, in that view's crop frame (S x S; x right, y down, pixel centres at +0.5).

    segmentation: (S, S) uint8 `Part` per pixel (0 = background).
    depth:        (S, S) float32 z toward the camera in crop pixels, z shifted so its minimum over the mesh is
                  0 (the front view's depth is the posmap's z where visible); NaN where no face; None when the
                  dataset leaves depth out.
    landmarks:    (68, 3) float32 the 68 landmark vertices in this crop (same z convention).
    visible:      (68,) bool: inside the crop and not hidden behind the face (side views hide the far half).
    camera:       the exact `Camera` (M_WCS->ECS, M_ECS->CSS, M_CSS->VCS, crop), or None (FaceGen, 300W-LP).
    lighting:     the `Lighting` drawn for this view, or None when the renderer chose its own.
    """

    segmentation: np.ndarray
    depth: np.ndarray | None
    landmarks: np.ndarray
    visible: np.ndarray
    camera: Camera | None = None
    lighting: Lighting | None = None


@dataclass(frozen=True)
class Pair:
    """One training example.

    front, side: (S, S, 3) uint8 RGB, background composited (S = 256 unless the dataset says otherwise).
    posmap:      (S, S, 3) float32, the front view's UV position map (PRN conventions, z min 0).
    mask:        (S, S) bool, UV coverage of the posmap.
    landmarks:   (68, 3) float32, the 68 landmark vertices in the front image's frame (same frame as posmap).
    meta:        `PairMeta`.
    front_view, side_view: `ViewLabels` of each view (None for rows that do not carry them).
    skin_tone:   (3,) float32 multiplier of the model's albedo drawn for this face, or None.
    """

    front: np.ndarray
    side: np.ndarray
    posmap: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    meta: PairMeta
    front_view: ViewLabels | None = None
    side_view: ViewLabels | None = None
    skin_tone: np.ndarray | None = None

    @property
    def size(self) -> int:
        """The side of the images and of the position map."""
        return int(self.posmap.shape[0])
