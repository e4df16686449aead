"""One synthetic training pair: a face, a front and a side render, and the front view's position map."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from frontside.datasets.records import Pair, PairMeta
from frontside.facemodel.model import FaceMesh, MorphableModel
from frontside.geometry.crop import landmark_crop, warp_image, warp_vertices
from frontside.geometry.posmap import rasterize_posmap
from frontside.renderers.backgrounds import Backgrounds, composite
from frontside.renderers.view import Pose, RenderedView


class FaceSource(Protocol):
    kind: str

    def face(self, rng: np.random.Generator, face_id: str) -> FaceMesh: ...


class Renderer(Protocol):
    name: str

    def render(self, face: FaceMesh, pose: Pose, size: int, rng: np.random.Generator) -> RenderedView: ...


# Multipliers of a model's albedo, light to dark skin (relative to the built-in model's mean albedo), drawn uniformly.
SKIN_TONES = np.array([[0.93, 0.76, 0.66], [0.86, 0.66, 0.55], [0.78, 0.57, 0.44], [0.66, 0.46, 0.33],
                       [0.52, 0.36, 0.26], [0.38, 0.26, 0.19]]) / np.array([0.86, 0.66, 0.55])


def random_skin(colours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) float32 albedo in [0, 1]: `colours` (N, 3) times a random skin tone, with a little per-vertex
    mottling. One draw per face, so both photos of a person show the same skin."""
    n = len(colours)
    base = np.asarray(colours, np.float32)
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.1)
    mottle = 1.0 + rng.normal(0.0, 0.03, size=(n, 1))
    return np.clip(base * tone * mottle, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class ModelSource:
    """Random faces from a morphable model; kind is "builtin" or "bfm". `skin_tones` varies the model's albedo
    over light to dark skin (`random_skin`)."""

    model: MorphableModel
    kind: str = "builtin"
    identity_scale: float = 1.0
    expression_scale: float = 0.7
    skin_tones: bool = True

    def face(self, rng: np.random.Generator, face_id: str) -> FaceMesh:
        face = self.model.face(rng, face_id, self.identity_scale, self.expression_scale)
        if not self.skin_tones:
            return face
        albedo = face.colours if face.colours is not None else np.tile([0.86, 0.66, 0.55], (len(face.vertices), 1))
        return replace(face, colours=random_skin(albedo, rng))


@dataclass(frozen=True)
class PoseRanges:
    """Pose ranges in degrees (thesis 4.2.1 and fig. 4.4).

    Front: |yaw| <= 45. Side: 45 < |yaw| <= 100 on a random side. Pitch within ±15 and roll within ±10 for both
    views, as a person holding still for two photos; scale and shift jitter the framing a little.
    """

    front_yaw: tuple[float, float] = (-45.0, 45.0)
    side_yaw: tuple[float, float] = (45.0, 100.0)
    pitch: tuple[float, float] = (-15.0, 15.0)
    roll: tuple[float, float] = (-10.0, 10.0)
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.04


def sample_poses(rng: np.random.Generator, ranges: PoseRanges = PoseRanges()) -> tuple[Pose, Pose]:
    """(front, side) poses; the side's sign of yaw is its side ("right" when > 0)."""

    def one(yaw: float) -> Pose:
        return Pose(yaw=yaw, pitch=float(rng.uniform(*ranges.pitch)), roll=float(rng.uniform(*ranges.roll)),
                    scale=float(rng.uniform(*ranges.scale)),
                    shift=(float(rng.uniform(-ranges.shift, ranges.shift)),
                           float(rng.uniform(-ranges.shift, ranges.shift))))

    front = one(float(rng.uniform(*ranges.front_yaw)))
    side_sign = 1.0 if rng.random() < 0.5 else -1.0
    side = one(side_sign * float(rng.uniform(*ranges.side_yaw)))
    return front, side


def crop_view(view: RenderedView, landmarks: np.ndarray, rng: np.random.Generator | None,
              size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """PRN's crop of one view around its projected landmarks: (RGBA (size, size, 4) uint8, vertices (N, 3))."""
    a = landmark_crop(view.vertices[landmarks, :2], out_size=size, rng=rng)
    return warp_image(view.image, a, size), warp_vertices(view.vertices, a)


def make_pair(source: FaceSource, renderer: Renderer, backgrounds: Backgrounds | None, rng: np.random.Generator,
              *, face_id: str, face_index: int, seed: int, ranges: PoseRanges = PoseRanges(), size: int = 256,
              render_size: int | None = None) -> Pair:
    """Draw a face and two poses, render both views, crop each around its own landmarks, put each over a
    background, and rasterise the front view's position map. The order of random draws is fixed, so the same
    rng state gives the same bytes."""
    face = source.face(rng, face_id)
    front_pose, side_pose = sample_poses(rng, ranges)
    render_size = render_size or size
    front_view = renderer.render(face, front_pose, render_size, rng)
    side_view = renderer.render(face, side_pose, render_size, rng)
    front_rgba, front_vertices = crop_view(front_view, face.landmarks, rng, size)
    side_rgba, _ = crop_view(side_view, face.landmarks, rng, size)
    backgrounds = backgrounds or Backgrounds.from_folder(None)
    front = composite(front_rgba, backgrounds.sample(rng, size, size))
    side = composite(side_rgba, backgrounds.sample(rng, size, size))
    posmap, mask = rasterize_posmap(face.uv, face.triangles, front_vertices, size=256)
    meta = PairMeta(
        face_id=face_id, seed=int(seed), face_index=int(face_index), source=source.kind, renderer=renderer.name,
        model=face.model, front_yaw=front_pose.yaw, front_pitch=front_pose.pitch, front_roll=front_pose.roll,
        side_yaw=side_pose.yaw, side_pitch=side_pose.pitch, side_roll=side_pose.roll,
        side="right" if side_pose.yaw > 0 else "left",
    )
    return Pair(front=front, side=side, posmap=posmap, mask=mask,
                landmarks=front_vertices[face.landmarks].astype(np.float32), meta=meta)
