"""One synthetic training pair: a face, a front and a side render, the front view's position map, each view's labels."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from frontside.facemodel.model import FaceMesh, MorphableModel
from frontside.geometry.crop import landmark_crop, warp_image, warp_vertices
from frontside.geometry.posmap import rasterize_posmap
from frontside.renderers.backgrounds import Backgrounds, composite
from frontside.renderers.camera import Camera, FramedRenderer
from frontside.renderers.lighting import sample_lighting
from frontside.renderers.view import Pose, RenderedView
from frontside.store.records import Pair, PairMeta, ViewLabels
from frontside.synthesis.labels import shift_depth, view_labels


class FaceSource(Protocol):
    kind: str

    def face(self, rng: np.random.Generator, face_id: str) -> FaceMesh: ...


class Renderer(Protocol):
    name: str

    def render(self, face: FaceMesh, pose: Pose, size: int, rng: np.random.Generator) -> RenderedView: ...


# Multipliers of a model's albedo, light to dark skin (relative to the built-in model's mean albedo), drawn uniformly.
SKIN_TONES = np.array([[0.93, 0.76, 0.66], [0.86, 0.66, 0.55], [0.78, 0.57, 0.44], [0.66, 0.46, 0.33],
                       [0.52, 0.36, 0.26], [0.38, 0.26, 0.19]]) / np.array([0.86, 0.66, 0.55])


def random_skin(colours: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """((N, 3) float32 albedo in [0, 1], (3,) float32 tone): `colours` (N, 3) times a random skin tone, with a
    little per-vertex mottling. One draw per face, so both photos of a person show the same skin."""
    n = len(colours)
    base = np.asarray(colours, np.float32)
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.1)
    mottle = 1.0 + rng.normal(0.0, 0.03, size=(n, 1))
    return np.clip(base * tone * mottle, 0, 1).astype(np.float32), tone.astype(np.float32)


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
        return self.draw(rng, face_id)[0]

    def draw(self, rng: np.random.Generator, face_id: str) -> tuple[FaceMesh, np.ndarray | None]:
        """(face, skin tone (3,) float32 or None): what `face` draws, with the skin tone it multiplied in."""
        face = self.model.face(rng, face_id, self.identity_scale, self.expression_scale)
        if not self.skin_tones:
            return face, None
        albedo = face.colours if face.colours is not None else np.tile([0.86, 0.66, 0.55], (len(face.vertices), 1))
        colours, tone = random_skin(albedo, rng)
        return replace(face, colours=colours), tone


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
    """PRN's crop of one rendered view around its projected landmarks: (RGBA (size, size, 4) uint8, vertices
    (N, 3) float32 with z shifted to a minimum of 0). For renderers that cannot draw into the crop (FaceGen)."""
    a = landmark_crop(view.vertices[landmarks, :2], out_size=size, rng=rng)
    return warp_image(view.image, a, size), warp_vertices(view.vertices, a)


def cropped_camera(renderer: FramedRenderer, face: FaceMesh, pose: Pose, size: int,
                   rng: np.random.Generator | None) -> Camera:
    """The renderer's camera for this pose with PRN's crop around the projected landmarks folded in."""
    camera = renderer.camera(face, pose, size)
    landmarks_xy = camera.image_vertices(face.vertices[face.landmarks])[:, :2]
    return camera.with_crop(landmark_crop(landmarks_xy, out_size=size, rng=rng))


def render_pair_views(face: FaceMesh, renderer: Renderer, poses: tuple[Pose, Pose], rng: np.random.Generator,
                      size: int, depth: bool = True, timings: dict[str, float] | None = None
                      ) -> list[tuple[np.ndarray, np.ndarray, ViewLabels]]:
    """[(RGBA (S, S, 4) uint8 premultiplied, vertices (N, 3) float32 in the crop frame with z min 0, labels)]
    for the front and the side pose. A `FramedRenderer` draws both views straight into their crops from one
    upload, with lights drawn here; another renderer (FaceGen) renders each view whole, then it is cropped."""
    out = []
    if isinstance(renderer, FramedRenderer):
        with stage(timings, "render"):
            views = []
            for pose in poses:
                lighting = sample_lighting(rng)
                views.append((cropped_camera(renderer, face, pose, size, rng), lighting))
            pixels = [camera.image_vertices(face.vertices) for camera, _ in views]
            images = renderer.render_views(face, views, pixels)
        with stage(timings, "labels"):
            for (camera, lighting), rgba, xyz in zip(views, images, pixels):
                vertices = shift_depth(xyz)
                out.append((rgba, vertices, view_labels(face, vertices, size, camera, lighting, depth)))
        return out
    with stage(timings, "render"):
        rendered = [renderer.render(face, pose, size, rng) for pose in poses]
        crops = [crop_view(view, face.landmarks, rng, size) for view in rendered]
    with stage(timings, "labels"):
        return [(rgba, vertices, view_labels(face, vertices, size, depth=depth)) for rgba, vertices in crops]


@contextmanager
def stage(timings: dict[str, float] | None, name: str):
    """Add the block's wall time to timings[name] (nothing when timings is None): the benchmarks' stage split."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def make_pair(source: FaceSource, renderer: Renderer, backgrounds: Backgrounds | None, rng: np.random.Generator,
              *, face_id: str, face_index: int, seed: int, ranges: PoseRanges = PoseRanges(), size: int = 256,
              depth: bool = True, timings: dict[str, float] | None = None) -> Pair:
    """Draw a face and two poses, render both views cropped around their own landmarks, put each over a
    background, rasterise the front view's position map (size x size, as the images) and label both views.
    The order of random draws is fixed, so the same rng state gives the same bytes. `timings` collects seconds
    per stage (face, render, labels, background, posmap)."""
    with stage(timings, "face"):
        draw = getattr(source, "draw", None)
        face, skin_tone = draw(rng, face_id) if draw is not None else (source.face(rng, face_id), None)
        front_pose, side_pose = sample_poses(rng, ranges)
    (front_rgba, front_vertices, front_view), (side_rgba, _, side_view) = render_pair_views(
        face, renderer, (front_pose, side_pose), rng, size, depth, timings)
    with stage(timings, "background"):
        backgrounds = backgrounds or Backgrounds.from_folder(None)
        front = composite(front_rgba, backgrounds.sample(rng, size, size))
        side = composite(side_rgba, backgrounds.sample(rng, size, size))
    with stage(timings, "posmap"):
        posmap, mask = rasterize_posmap(face.uv, face.triangles, front_vertices, size=size)
    meta = PairMeta(
        face_id=face_id, seed=int(seed), face_index=int(face_index), source=source.kind, renderer=renderer.name,
        model=face.model, front_yaw=front_pose.yaw, front_pitch=front_pose.pitch, front_roll=front_pose.roll,
        side_yaw=side_pose.yaw, side_pitch=side_pose.pitch, side_roll=side_pose.roll,
        side="right" if side_pose.yaw > 0 else "left",
    )
    return Pair(front=front, side=side, posmap=posmap, mask=mask, landmarks=front_view.landmarks, meta=meta,
                front_view=front_view, side_view=side_view, skin_tone=skin_tone)
