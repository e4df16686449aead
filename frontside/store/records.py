"""The face record: what `make_face` and the 300W-LP converter produce and what a shard row holds (a face seen
from N views, front first), and the labels of each view."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import numpy as np

from frontside.facemodel.model import Coefficients
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
    OCCLUDER = 8  # hair, a hat, glasses or a hand drawn over the view (`generate --realism occluders`)


# a colour per part for pictures (background black)
PART_COLOURS = np.array([[0, 0, 0], [224, 172, 140], [120, 90, 200], [90, 60, 30], [255, 255, 255],
                         [60, 200, 80], [220, 40, 60], [255, 210, 0], [40, 160, 255]], np.uint8)


def parts_to_rgb(segmentation: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 picture of a segmentation map."""
    return PART_COLOURS[np.clip(segmentation, 0, len(PART_COLOURS) - 1)]


@dataclass(frozen=True)
class FaceMeta:
    """Who the face is and how it was made; what each view shows is in its `View`."""

    face_id: str
    seed: int  # the dataset seed; with face_index it fixes every random choice for this face
    face_index: int
    source: str  # builtin | bfm | facegen | 300wlp
    renderer: str  # raster | pyrender | facegen | 300wlp
    model: str  # the face model's name, e.g. "builtin-v1", "BFM"

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


VIEW_KINDS = ("front", "left", "right")


def side_of(yaw: float) -> str:
    """The kind of a side view by its yaw: "right" when yaw > 0 (the nose turned to the viewer's right)."""
    return "right" if yaw > 0 else "left"


@dataclass(frozen=True)
class View:
    """One photo of a face.

    image:  (S, S, 3) uint8 RGB, background composited, cropped around the view's own landmarks.
    kind:   "front" (|yaw| <= 45), "left" or "right" (45 < |yaw| <= 100 on that side: `side_of`).
    yaw, pitch, roll: the head pose in degrees (`renderers.view.Pose`'s convention).
    labels: the view's `ViewLabels`, or None for rows read without them.
    """

    image: np.ndarray
    kind: str
    yaw: float
    pitch: float
    roll: float
    labels: ViewLabels | None = None


@dataclass(frozen=True)
class Face:
    """One face seen from N >= 2 views: one training example.

    views:       the `View`s, front first, then the side views (shard format 3; format-2 rows are 2 views).
    posmap:      (S, S, 3) float32, the front view's UV position map (PRN conventions, z min 0).
    mask:        (S, S) bool, UV coverage of the posmap.
    landmarks:   (68, 3) float32, the 68 landmark vertices in the front image's frame (same frame as posmap).
    meta:        `FaceMeta`.
    skin_tone:   (3,) float32 multiplier of the model's albedo drawn for this face, or None.
    coefficients: the face model's `Coefficients` the face was drawn with (identity (K,), expression (E,) in the
                 model's standard deviations), or None where the source has none.
    realism:     what `generate --realism` drew for this face (`synthesis.realism`: its options, the shared
                 appearance, the skin's draws, and per view the eyes', occluders' and camera's), or None.

    `front`, `side` (the first side view's image), `front_view` and `side_view` (their labels) are what
    two-view readers use; `sides` are all views after the front.
    """

    views: tuple[View, ...]
    posmap: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    meta: FaceMeta
    skin_tone: np.ndarray | None = None
    coefficients: Coefficients | None = None
    realism: dict | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "views", tuple(self.views))
        kinds = [view.kind for view in self.views]
        if len(kinds) < 2 or kinds[0] != "front" or any(kind not in VIEW_KINDS[1:] for kind in kinds[1:]):
            raise ValueError(f"face {self.meta.face_id}: views {kinds}: a face has a front view first, then at "
                             "least one side view (left or right)")

    @property
    def size(self) -> int:
        """The side of the images and of the position map."""
        return int(self.posmap.shape[0])

    @property
    def sides(self) -> tuple[View, ...]:
        return self.views[1:]

    @property
    def front(self) -> np.ndarray:
        return self.views[0].image

    @property
    def side(self) -> np.ndarray:
        """The first side view's image."""
        return self.views[1].image

    @property
    def front_view(self) -> ViewLabels | None:
        return self.views[0].labels

    @property
    def side_view(self) -> ViewLabels | None:
        """The first side view's labels."""
        return self.views[1].labels
