"""One synthetic face: a face drawn from a model, its N views (a front and N - 1 side views) rendered into their
crops over backgrounds, the front view's position map, each view's labels."""

from __future__ import annotations

import time
from collections.abc import Sequence
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
from frontside.store.records import Face, FaceMeta, View, ViewLabels, side_of
from frontside.synthesis.labels import shift_depth, view_labels
from frontside.synthesis.realism import FaceRealism, realism_options
from frontside.synthesis.segmentation import face_uv_parts, lookup_parts


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

    Front: |yaw| <= 45. Side: 45 < |yaw| <= 100, the first side view on a random side, further ones alternating
    (`sample_extra_side_poses`). Pitch within ±15 and roll within ±10 for every view, as a person holding still
    for the photos; scale and shift jitter the framing a little.
    """

    front_yaw: tuple[float, float] = (-45.0, 45.0)
    side_yaw: tuple[float, float] = (45.0, 100.0)
    pitch: tuple[float, float] = (-15.0, 15.0)
    roll: tuple[float, float] = (-10.0, 10.0)
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.04


def _pose(rng: np.random.Generator, yaw: float, ranges: PoseRanges) -> Pose:
    """A pose at `yaw` with pitch, roll, scale and shift drawn from `ranges` (in that order)."""
    return Pose(yaw=yaw, pitch=float(rng.uniform(*ranges.pitch)), roll=float(rng.uniform(*ranges.roll)),
                scale=float(rng.uniform(*ranges.scale)),
                shift=(float(rng.uniform(-ranges.shift, ranges.shift)), float(rng.uniform(-ranges.shift, ranges.shift))))


def sample_poses(rng: np.random.Generator, ranges: PoseRanges = PoseRanges()) -> tuple[Pose, Pose]:
    """(front, side) poses; the side's sign of yaw is its side ("right" when > 0), drawn at random."""
    front = _pose(rng, float(rng.uniform(*ranges.front_yaw)), ranges)
    side_sign = 1.0 if rng.random() < 0.5 else -1.0
    side = _pose(rng, side_sign * float(rng.uniform(*ranges.side_yaw)), ranges)
    return front, side


def sample_extra_side_poses(rng: np.random.Generator, first_side_yaw: float, count: int,
                            ranges: PoseRanges = PoseRanges()) -> list[Pose]:
    """The poses of side views 2, 3, ... (view 0 is the front, view 1 the first side view, on a random side s):
    view k is on the other side (-s) when k is even and on s when k is odd, so 3 views show both sides (front,
    s, -s) and more views alternate (front, s, -s, s, -s, ...). Each |yaw| is drawn in `ranges.side_yaw`."""
    sign = 1.0 if first_side_yaw > 0 else -1.0
    return [_pose(rng, (-sign if k % 2 == 0 else sign) * float(rng.uniform(*ranges.side_yaw)), ranges)
            for k in range(2, 2 + count)]


def crop_view(view: RenderedView, landmarks: np.ndarray, rng: np.random.Generator | None,
              size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """PRN's crop of one rendered view around its projected landmarks: (RGBA (size, size, 4) uint8, vertices
    (N, 3) float32 with z shifted to a minimum of 0). For renderers that cannot draw into the crop (FaceGen)."""
    a = landmark_crop(view.vertices[landmarks, :2], out_size=size, rng=rng)
    return warp_image(view.image, a, size), warp_vertices(view.vertices, a)


def cropped_camera(renderer: FramedRenderer, face: FaceMesh, pose: Pose, size: int,
                   rng: np.random.Generator | None, fov_deg: float | None = None) -> Camera:
    """The renderer's camera for this pose (and field of view, when given) with PRN's crop around the projected
    landmarks folded in."""
    camera = renderer.camera(face, pose, size, fov_deg)
    landmarks_xy = camera.image_vertices(face.vertices[face.landmarks])[:, :2]
    return camera.with_crop(landmark_crop(landmarks_xy, out_size=size, rng=rng))


def render_views(face: FaceMesh, renderer: Renderer, poses: Sequence[Pose],
                 rngs: np.random.Generator | Sequence[np.random.Generator], size: int, depth: bool = True,
                 timings: dict[str, float] | None = None,
                 fovs: Sequence[float] | None = None) -> list[tuple[np.ndarray, np.ndarray, ViewLabels]]:
    """[(RGBA (S, S, 4) uint8 premultiplied, vertices (N, 3) float32 in the crop frame with z min 0, labels)]
    for each pose; view k draws its lights and crop jitter from rngs[k] (one generator: all views from it, in
    view order). A `FramedRenderer` draws all views straight into their crops from one upload, with lights drawn
    here, each view with its field of view fovs[k] (degrees; None: the renderer's); another renderer (FaceGen)
    renders each view whole, then it is cropped."""
    rngs = [rngs] * len(poses) if isinstance(rngs, np.random.Generator) else list(rngs)
    fovs = [None] * len(poses) if fovs is None else list(fovs)
    out = []
    if isinstance(renderer, FramedRenderer):
        with stage(timings, "render"):
            views = []
            for pose, rng, fov in zip(poses, rngs, fovs, strict=True):
                lighting = sample_lighting(rng)
                views.append((cropped_camera(renderer, face, pose, size, rng, fov), lighting))
            pixels = [camera.image_vertices(face.vertices) for camera, _ in views]
            images = renderer.render_views(face, views, pixels)
        with stage(timings, "labels"):
            for (camera, lighting), rgba, xyz in zip(views, images, pixels):
                vertices = shift_depth(xyz)
                out.append((rgba, vertices, view_labels(face, vertices, size, camera, lighting, depth)))
        return out
    with stage(timings, "render"):
        rendered = [renderer.render(face, pose, size, rng) for pose, rng in zip(poses, rngs, strict=True)]
        crops = [crop_view(view, face.landmarks, rng, size) for view, rng in zip(rendered, rngs)]
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


def make_face(source: FaceSource, renderer: Renderer, backgrounds: Backgrounds | None, rng: np.random.Generator,
              *, face_id: str, face_index: int, seed: int, ranges: PoseRanges = PoseRanges(), size: int = 256,
              depth: bool = True, views: int = 2, views_rng: np.random.Generator | None = None,
              timings: dict[str, float] | None = None, realism: str = "none") -> Face:
    """Draw a face and `views` poses (a front, then side views: `sample_poses`, `sample_extra_side_poses`),
    render every view cropped around its own landmarks, put each over a background, rasterise the front view's
    position map (size x size, as the images) and label every view.

    The face, the front and the first side view draw from `rng` in a fixed order, exactly as a two-view face
    does; views 2, 3, ... draw everything (pose, lights, crop jitter, background) from `views_rng` (needed when
    views > 2; `generate.face_rngs` gives both), so a face's first two views are the same whatever `views` is,
    and the same generator states give the same bytes. `timings` collects seconds per stage (face, render,
    labels, background, posmap, realism).

    realism: "none", "all" or options of `synthesis.realism` (skin, eyes, occluders, camera): their draws come
    from streams of (seed, face_index) of their own (`realism.FaceRealism`), so the face, its poses, lights,
    crops and backgrounds are drawn exactly as without them; what they drew is the face's `realism` record."""
    if views < 2:
        raise ValueError(f"a face has a front and at least one side view: views must be >= 2, got {views}")
    if views > 2 and views_rng is None:
        raise ValueError(f"views = {views}: views 2, 3, ... draw from views_rng, which is None")
    with stage(timings, "face"):
        draw = getattr(source, "draw", None)
        mesh, skin_tone = draw(rng, face_id) if draw is not None else (source.face(rng, face_id), None)
        poses = [*sample_poses(rng, ranges)]
        poses += sample_extra_side_poses(views_rng, poses[1].yaw, views - 2, ranges) if views > 2 else []
    options = realism_options(realism)
    looks, record, fovs = None, None, None
    if options:
        with stage(timings, "realism"):
            looks = FaceRealism(options, int(seed), int(face_index))
            record = looks.header()
            fovs = looks.fovs(views) if isinstance(renderer, FramedRenderer) else None
            parts = lookup_parts(face_uv_parts(mesh), mesh.uv)
            mesh, skin = looks.apply_to_face(mesh, parts)
            record.update(skin)
    rngs = [rng, rng] + [views_rng] * (views - 2)
    rendered = render_views(mesh, renderer, poses, rngs, size, depth, timings, fovs)
    with stage(timings, "background"):
        backgrounds = backgrounds or Backgrounds.from_folder(None)
        images = [composite(rgba, backgrounds.sample(view_rng, size, size))
                  for (rgba, _, _), view_rng in zip(rendered, rngs)]
    if looks is not None:
        with stage(timings, "realism"):
            images, labels, record["views"] = looks.apply_to_views(images, [r[2] for r in rendered], fovs)
            rendered = [(rgba, vertices, label) for (rgba, vertices, _), label in zip(rendered, labels)]
    with stage(timings, "posmap"):
        posmap, mask = rasterize_posmap(mesh.uv, mesh.triangles, rendered[0][1], size=size)
    face_views = tuple(View(image=image, kind="front" if k == 0 else side_of(pose.yaw), yaw=pose.yaw,
                            pitch=pose.pitch, roll=pose.roll, labels=labels)
                       for k, (image, pose, (_, _, labels)) in enumerate(zip(images, poses, rendered)))
    meta = FaceMeta(face_id=face_id, seed=int(seed), face_index=int(face_index), source=source.kind,
                    renderer=renderer.name, model=mesh.model)
    return Face(views=face_views, posmap=posmap, mask=mask, landmarks=rendered[0][2].landmarks, meta=meta,
                skin_tone=skin_tone, coefficients=mesh.coefficients, realism=record)
