"""Rendered faces written as photos: the held-out pairs of a synthetic dataset at a photo's size and framing.

Each view is rendered square, pasted off-centre into a larger canvas over a background texture, and kept with the
true 68 landmarks in the photo's pixels and the rendered pose, so detection, cropping and pose can be checked
against the truth. The face and its two poses are the dataset's own (same seed and index, same draws as
`make_face`), so a photo pair shows exactly the face of the dataset's pair.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from frontside.io import write_atomic
from frontside.renderers.backgrounds import Backgrounds, composite
from frontside.renderers.view import Pose
from frontside.synthesis.generate import face_rng, make_source
from frontside.synthesis.pairs import sample_poses


@dataclass(frozen=True)
class PhotoView:
    """One rendered photo.

    jpeg:      the photo as a JPEG file's bytes.
    image:     (H, W, 3) uint8 RGB, decoded from `jpeg` (what a reader of the file sees).
    vertices:  (N, 3) float32 the face's vertices in the photo's image frame (x, y pixels, z toward the camera).
    landmarks: (68, 2) float32 true landmark positions in the photo's pixels (+0.5 pixel centres).
    pose:      the rendered head pose.
    """

    jpeg: bytes
    image: np.ndarray
    vertices: np.ndarray
    landmarks: np.ndarray
    pose: Pose


@dataclass(frozen=True)
class PhotoPair:
    name: str
    front: PhotoView
    side: PhotoView


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_pairs(pairs: list[PhotoPair], folder: str | os.PathLike) -> Path:
    """`folder`/front/NAME.jpg and `folder`/side/NAME.jpg, the layout `reconstruct --pairs` reads."""
    root = Path(folder)
    for pair in pairs:
        for view in ("front", "side"):
            write_atomic(root / view / f"{pair.name}.jpg", getattr(pair, view).jpeg)
    return root


def _place(render_size: int, height: int, width: int, rng: np.random.Generator) -> tuple[int, int]:
    """(top, left) of a render in the canvas, off-centre: anywhere the whole render fits."""
    return int(rng.integers(0, height - render_size + 1)), int(rng.integers(0, width - render_size + 1))


def photo_pairs(seed: int, indices: range | list[int], height: int = 480, width: int = 640,
                source_spec: str = "builtin", render_sizes: tuple[int, int] = (300, 460),
                quality: int = 90) -> list[PhotoPair]:
    """The pairs `indices` of the dataset with `seed` as JPEG photos of height x width (render side drawn from
    `render_sizes`, so the face is smaller or larger than in the 256 x 256 crops)."""
    from frontside.renderers.pyrender_renderer import PyrenderRenderer

    source, renderer, backgrounds = make_source(source_spec), PyrenderRenderer(), Backgrounds.from_folder(None)
    pairs = []
    for index in indices:
        rng = face_rng(seed, index)
        face = source.face(rng, f"{source.kind}-{index:06d}")
        poses = sample_poses(rng)
        framing = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), 1]))
        views = []
        for pose in poses:
            size = int(framing.integers(render_sizes[0], min(render_sizes[1], height) + 1))
            view = renderer.render(face, pose, size, framing)
            top, left = _place(size, height, width, framing)
            canvas = backgrounds.sample(framing, height, width)
            canvas[top:top + size, left:left + size] = composite(view.image, canvas[top:top + size, left:left + size])
            vertices = view.vertices + np.array([left, top, 0], np.float32)
            jpeg = _jpeg(canvas, quality)
            views.append(PhotoView(jpeg, np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")), vertices,
                                   vertices[face.landmarks, :2].copy(), pose))
        pairs.append(PhotoPair(f"{seed}-{index:04d}", views[0], views[1]))
    return pairs


def finds_face(box: tuple[float, float, float, float], landmarks: np.ndarray) -> bool:
    """Whether a detection box (x, y, w, h) is on the face with these true landmarks (68, 2): its centre within
    the landmarks' box (10% margin) and its size 0.4-2.5 times that box's ((w + h) / 2)."""
    x, y, w, h = box
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    size = float((hi - lo).sum()) / 2.0
    cx, cy = x + w / 2.0, y + h / 2.0
    inside = (lo[0] - 0.1 * size <= cx <= hi[0] + 0.1 * size) and (lo[1] - 0.1 * size <= cy <= hi[1] + 0.1 * size)
    return inside and 0.4 < max(w, h) / size < 2.5
