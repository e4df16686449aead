"""Two photos in, a textured 3D face out: detect, crop as in training, predict, mesh, texture from the front photo."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from frontside.errors import FrontsideError
from frontside.geometry.crop import warp_image
from frontside.geometry.mesh_io import write_obj
from frontside.geometry.posmap import posmap_to_mesh


@dataclass(frozen=True)
class Detection:
    """A face box (x, y, width, height) in pixels and the cascade that found it."""

    box: tuple[int, int, int, int]
    cascade: str


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise FrontsideError(f"OpenCV's bundled cascade {path} is missing (opencv-python-headless < 5 ships it)")
    return classifier


def detect_face(image: np.ndarray, path: str | os.PathLike, profile: bool = False) -> Detection:
    """The largest face OpenCV's bundled Haar cascades find (frontal; for a side photo also profile, both ways)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    tries = [("haarcascade_frontalface_default.xml", False)]
    if profile:
        tries = [("haarcascade_profileface.xml", False), ("haarcascade_profileface.xml", True)] + tries
    for name, mirrored in tries:
        source = grey[:, ::-1] if mirrored else grey
        found = _cascade(name).detectMultiScale(np.ascontiguousarray(source), scaleFactor=1.1, minNeighbors=4,
                                                minSize=(40, 40))
        if len(found):
            x, y, w, h = max(found, key=lambda b: b[2] * b[3])
            if mirrored:
                x = grey.shape[1] - x - w
            return Detection((int(x), int(y), int(w), int(h)), name)
    raise FrontsideError(f"{path}: no face found (OpenCV Haar cascades); crop the photo to the face, or pass --no-detect")


def crop_to_face(image: np.ndarray, box: tuple[int, int, int, int], size: int = 256) -> np.ndarray:
    """(3, 3) image -> crop similarity: a square 1.6 times the detection, centred a little below its centre
    (Haar boxes stop at the brows; training crops include the forehead and chin)."""
    x, y, w, h = box
    side = 1.6 * max(w, h)
    cx, cy = x + w / 2.0, y + h / 2.0 + 0.08 * h
    scale = size / side
    return np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy], [0, 0, 1.0]])


def load_photo(path: str | os.PathLike) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise FrontsideError(f"{path}: not a readable image ({exc})") from None


def prepare(path: str | os.PathLike, profile: bool, detect: bool) -> np.ndarray:
    """(256, 256, 3) uint8 network input from a photo."""
    image = load_photo(path)
    if not detect:
        return np.asarray(Image.fromarray(image).resize((256, 256), Image.BILINEAR))
    return warp_image(image, crop_to_face(image, detect_face(image, path, profile).box))


def reconstruct(front_path: str, side_path: str | None, checkpoint: str, out: str, detect: bool = True,
                face_mask: np.ndarray | None = None) -> Path:
    """Write a textured OBJ (+ .mtl + .png texture) of the face in the front photo; returns the OBJ path."""
    from frontside.model.inference import Predictor

    predictor = Predictor.from_checkpoint(checkpoint)
    front = prepare(front_path, profile=False, detect=detect)
    side = prepare(side_path, profile=True, detect=detect) if side_path else None
    if predictor.views == "both" and side is None:
        raise FrontsideError(f"{checkpoint}: a two-view network needs --side")
    posmap = predictor.predict(front, side)
    mask = np.ones(posmap.shape[:2], bool) if face_mask is None else face_mask
    vertices, triangles = posmap_to_mesh(posmap, mask)
    rows, cols = np.nonzero(mask)
    uv = np.column_stack([(cols + 0.5) / mask.shape[1], 1.0 - (rows + 0.5) / mask.shape[0]]).astype(np.float32)
    # PRN's texture: the front photo sampled at each UV pixel's predicted image position
    texture = cv2.remap(front, posmap[..., 0] - 0.5, posmap[..., 1] - 0.5, interpolation=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT)
    upright = vertices * np.array([1.0, -1.0, 1.0]) + np.array([0.0, 256.0, 0.0])  # image y down -> OBJ y up
    return write_obj(out, upright, triangles, uv=uv, texture=texture)
