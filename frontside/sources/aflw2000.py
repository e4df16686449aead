"""AFLW2000-3D (Zhu et al., the test set single-view peers report: 3DDFA, PRN): find and read its samples.

Layout of a root: `imageNNNNN.jpg` beside `imageNNNNN.mat` (2,000 of them). Each .mat holds

    pt3d_68     (3, 68)  the fitted model's 68 landmarks: x, y in image pixels, z (larger = nearer)
    pt2d        (2, 68)  the 2D landmarks of the original AFLW annotation (some set to -1 where not marked)
    Pose_Para   (1, 7)   pitch, yaw, roll (radians, 300W-LP's signs), tx, ty, tz, scale
    Shape_Para  (199, 1), Exp_Para (29, 1): BFM coefficients, as 300W-LP's (`sources.w300lp`)
    roi         (1, 4)   the face region the fit started from

The fit poses exactly as 300W-LP's does (`w300lp.fit_vertices`, `fit_world_to_vcs`: face3d's integer pixel
centres, moved to ours, +0.5), so `pt3d_68` is read in that convention too: x + 0.5, y + 0.5, z as stored. Photos
are read without EXIF orientation (the annotations address the stored pixels). Every key is checked as it is read:
a missing key or a wrong shape is one error naming the file and the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frontside.errors import InputFormatError
from frontside.facemodel.model import MorphableModel
from frontside.sources.w300lp import W300LPFit, fit_vertices, fit_world_to_vcs, read_fit

SAMPLE = re.compile(r"^image\d+$")
KEYS = {"pt3d_68": (3, 68), "pt2d": (2, 68), "Pose_Para": (1, 7), "roi": (1, 4)}


@dataclass(frozen=True)
class AFLW2000Sample:
    """One photo and its annotation. landmarks: (68, 3) float64 `pt3d_68` in our image frame (x right, y down,
    +0.5 pixel centres; z toward the camera, in pixels); points_2d (68, 2) `pt2d`; roi (4,); fit: the BFM fit;
    size: the photo's (width, height) from its header."""

    name: str
    image_path: Path
    mat_path: Path
    landmarks: np.ndarray
    points_2d: np.ndarray
    roi: np.ndarray
    fit: W300LPFit
    size: tuple[int, int]

    @property
    def yaw(self) -> float:
        """|yaw| in degrees (Pose_Para's, the angle the protocol's bins use)."""
        return abs(math.degrees(self.fit.yaw))

    def dense_truth(self, model: MorphableModel) -> np.ndarray:
        """(N, 3) float64 the fitted mesh in our image frame (`model` must be the BFM the fit was made with)."""
        if self.fit.shape.size != model.n_identity or self.fit.expression.size != model.n_expression:
            raise InputFormatError(self.mat_path, "Shape_Para/Exp_Para",
                                   f"{self.fit.shape.size} / {self.fit.expression.size} coefficients, the model "
                                   f"{model.name} has {model.n_identity} / {model.n_expression}")
        m = fit_world_to_vcs(self.fit, self.size[1])
        return fit_vertices(self.fit, model).astype(np.float64) @ m[:3, :3].T + m[:3, 3]


def _key(mat: dict, path: Path, key: str) -> np.ndarray:
    if key not in mat:
        raise InputFormatError(path, key, "missing")
    try:
        value = np.asarray(mat[key], np.float64)
    except (TypeError, ValueError) as exc:
        raise InputFormatError(path, key, f"not numeric ({exc})") from None
    shape = KEYS[key]
    if value.shape != shape and value.shape != shape[::-1]:
        raise InputFormatError(path, key, f"has shape {value.shape}, expected {shape[0]} x {shape[1]}")
    if not np.all(np.isfinite(value)):
        raise InputFormatError(path, key, "contains NaN or infinity")
    return value if value.shape == shape else value.T


def read_sample(image_path: str | Path) -> AFLW2000Sample:
    """The sample of `imageNNNNN.jpg` and its .mat, every key checked (InputFormatError naming file and key)."""
    from PIL import Image

    from frontside.facemodel.bfm import read_mat

    image_path = Path(image_path)
    mat_path = image_path.with_suffix(".mat")
    mat = read_mat(mat_path)
    keys = {key: _key(mat, mat_path, key) for key in KEYS}
    fit = read_fit(mat_path)  # Pose_Para (scale > 0), Shape_Para, Exp_Para, each checked
    try:
        with Image.open(image_path) as im:
            size = im.size
    except FileNotFoundError:
        raise InputFormatError(image_path, "file", "does not exist") from None
    except Exception as exc:
        raise InputFormatError(image_path, "image", f"not a readable image ({type(exc).__name__})") from None
    landmarks = keys["pt3d_68"].T.copy()
    landmarks[:, :2] += 0.5
    return AFLW2000Sample(image_path.stem, image_path, mat_path, landmarks, keys["pt2d"].T + 0.5,
                          keys["roi"].ravel(), fit, size)


def find_samples(root: str | Path) -> list[Path]:
    """Every imageNNNNN.jpg under `root` (sorted) that has its .mat beside it; an InputFormatError naming the
    root when there is none, or naming a photo whose .mat is missing."""
    root = Path(root)
    if not root.is_dir():
        raise InputFormatError(root, "folder", "does not exist" if not root.exists() else "is a file")
    photos = sorted(p for p in root.glob("image*.jpg") if p.is_file() and SAMPLE.match(p.stem))
    if not photos:
        raise InputFormatError(root, "imageNNNNN.jpg", "no AFLW2000-3D photo (imageNNNNN.jpg beside "
                                                        "imageNNNNN.mat) in this folder")
    for photo in photos:
        if not photo.with_suffix(".mat").is_file():
            raise InputFormatError(photo.with_suffix(".mat"), "file", f"does not exist (the annotation of "
                                                                      f"{photo.name})")
    return photos


def read_samples(root: str | Path, limit: int | None = None) -> list[AFLW2000Sample]:
    """The first `limit` samples of a root (all by default), each read and checked."""
    return [read_sample(p) for p in find_samples(root)[:limit]]
