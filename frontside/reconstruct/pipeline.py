"""Photos in (a front photo, and a side photo for two-view networks), a 3D face out: detect, crop, predict, crop
again from the predicted landmarks (PRN's refinement), predict again; then the mesh, face.json and optionally a
preview picture."""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frontside.errors import FrontsideError, InputFormatError
from frontside.geometry.crop import crop_to_photo, transform_scale, warp_image_shrinking
from frontside.geometry.posmap import posmap_to_mesh, sample_posmap
from frontside.images import read_photo
from frontside.reconstruct.crop import crop_box, crop_from_detection, refined_crop
from frontside.reconstruct.detect import Detection, detect_face, load_detector
from frontside.reconstruct.outputs import MESH_FRAME, to_mesh_frame, uv_texture, write_face_json, write_mesh
from frontside.reconstruct.pose import HeadPose, head_pose, head_pose_2d, in_photo
from frontside.reconstruct.preview import CROP, DETECTION, preview_picture

log = logging.getLogger(__name__)


class NoFaceError(FrontsideError):
    """A photo with no face to reconstruct: none found, or one under `MIN_FACE` (the file is the problem:
    exit 1)."""


# The smallest face reconstructed: its 68-landmark box's size ((w + h) / 2, about brow to chin) in photo pixels.
# Its crop (1.5 x that) is then magnified ~2.7x to the default network's 128 px input; smaller faces hold too
# little to rebuild and are refused rather than guessed.
MIN_FACE = 32


def load_photo(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a photo as a viewer shows it (`frontside.images.read_photo`: EXIF orientation,
    CMYK, 16-bit, grey, alpha); an unreadable or too large one is an InputFormatError naming it."""
    return read_photo(path)


def face_size(a: np.ndarray, size: int) -> float:
    """The landmark box size (photo pixels) a training crop `a` (3, 3) of side `size` frames (its side / 1.5)."""
    return size / transform_scale(a) / 1.5


@dataclass
class ViewResult:
    """One photo's part of a reconstruction. `crops` holds each prediction's photo -> crop similarity (3, 3);
    `crop_sources` says where each came from ("locator landmarks", "detection" (a box detector's), "landmarks"
    (the network's), "whole photo", "given" (by the caller), or "previous crop" when the landmarks fell outside
    the photo); `landmarks` (68, 2) come from the network (front photo) or the locator (a side photo it found),
    `landmarks_from` says which."""

    path: str
    image: np.ndarray
    detection: Detection | None
    crops: list[np.ndarray] = field(default_factory=list)
    crop_sources: list[str] = field(default_factory=list)
    crop_image: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    landmarks_from: str | None = None
    pose: HeadPose | None = None

    def as_dict(self, size: int) -> dict:
        d = self.detection
        return {
            "photo": self.path,
            "width": int(self.image.shape[1]), "height": int(self.image.shape[0]),
            "detection": None if d is None else {"box": list(d.box), "kind": d.kind, "score": d.score,
                                                 "detector": d.detector},
            "crops": [{"box": crop_box(a, size), "from": source} for a, source in zip(self.crops, self.crop_sources)],
            "landmarks_2d": None if self.landmarks is None else self.landmarks,
            "landmarks_from": self.landmarks_from,
            "pose": None if self.pose is None else self.pose.as_dict(),
        }


@dataclass
class Reconstruction:
    front: ViewResult
    side: ViewResult | None
    posmap: np.ndarray  # (S, S, 3) float32 in the final front crop's pixels
    landmarks_3d: np.ndarray  # (68, 3) float32 in the final front crop's pixels (image frame)
    timings: dict[str, float]
    more_sides: list[ViewResult] = field(default_factory=list)  # a multi-view network's further side photos

    def in_photo(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) float64: points (N, 3) of the final front crop's frame in the front photo's (x, y through the
        inverse crop, z divided by the crop's scale: photo pixels toward the camera)."""
        a = self.front.crops[-1]
        out = np.empty((len(points), 3))
        out[:, :2] = crop_to_photo(points, a)
        out[:, 2] = np.asarray(points, np.float64)[:, 2] / transform_scale(a)
        return out


class Reconstructor:
    """A loaded network plus what reconstruction needs beside it, all from its checkpoint's UV basis: the crop
    size, the UVs of the 68 landmarks, the face model's mean shape as the reference for head pose, the face mask
    (or `face_mask`, e.g. from a dataset's uv_regions.png). Loaded once; `reconstruct` per pair."""

    def __init__(self, checkpoint: str | os.PathLike, detector: str = "auto", face_mask: np.ndarray | None = None):
        from frontside.learning.ensemble import load_predictor

        self.checkpoint = str(checkpoint)
        self.detector = detector
        load_detector(detector)  # its weights loaded with the network, not inside the first photo's detection
        self.predictor = load_predictor(checkpoint)  # "a.pt+b.pt": the mean of their answers
        basis = self.predictor.basis  # the UV layout the network answers in, with its face model's mean shape
        self.size = basis.size
        self.face_model = basis.model
        self.landmark_uv = np.asarray(basis.landmark_uv)
        self.reference_landmarks = sample_posmap(basis.mean, basis.landmark_uv).astype(np.float64)
        mask = self.predictor.face_mask if face_mask is None else np.asarray(face_mask, bool)
        if mask.shape != (self.size, self.size):
            raise InputFormatError("face mask", "shape", f"is {mask.shape}, the network's position maps are "
                                   f"{self.size} x {self.size}")
        self.face_mask = mask

    @property
    def needs_side(self) -> bool:
        return self.predictor.views == "both"

    @property
    def takes_sides(self) -> int:
        """How many side photos the network reads: 0 (front-only), 1 (two-view), any (multi-view: a large number)."""
        return {"front": 0, "both": 1}.get(self.predictor.views, 1_000)

    def _view(self, path: str, view: str, detect: bool, timings: dict, first_crop: np.ndarray | None = None
              ) -> ViewResult:
        """One photo loaded and its first crop: the whole photo (`detect` False), `first_crop` if given (a
        similarity (3, 3) photo -> crop), or the detected face's. A face under `MIN_FACE` is refused."""
        t = time.perf_counter()
        image = load_photo(path)
        timings["load"] += time.perf_counter() - t
        if first_crop is not None:
            view_result = ViewResult(path, image, None, [np.asarray(first_crop, np.float64)], ["given"])
        elif not detect:
            a = np.diag([self.size / image.shape[1], self.size / image.shape[0], 1.0])
            view_result = ViewResult(path, image, None, [a], ["whole photo"])
        else:
            if min(image.shape[:2]) < MIN_FACE:
                raise NoFaceError(f"{path}: {image.shape[1]} x {image.shape[0]} pixels: too small to hold a face "
                                  f"of at least {MIN_FACE} px")
            t = time.perf_counter()
            detection = detect_face(image, view, self.detector)
            timings["detect"] += time.perf_counter() - t
            if detection is None:
                raise NoFaceError(f"{path}: no face found ({self.detector} detector); crop the photo to the face "
                                  "and pass --no-detect")
            crop = crop_from_detection(detection, self.size)
            if detection.landmarks is None:
                view_result = ViewResult(path, image, detection, [crop], ["detection"])
            else:
                view_result = ViewResult(path, image, detection, [crop], ["locator landmarks"],
                                         landmarks=detection.landmarks, landmarks_from="locator")
        size = face_size(view_result.crops[0], self.size)
        if size < MIN_FACE:
            raise NoFaceError(f"{path}: the face is {size:.0f} px (its 68-landmark box, brow to chin); "
                              f"reconstruction needs at least {MIN_FACE} px: a larger or closer photo")
        return view_result

    def _refine(self, view: ViewResult, landmarks_xy: np.ndarray) -> None:
        """Append the next crop: training's crop of these landmarks (68, 2), unless they leave the photo (an
        untrained network's can), in which case the previous crop stays."""
        h, w = view.image.shape[:2]
        inside = (landmarks_xy.min(axis=0) > -0.25 * w).all() and (landmarks_xy.max(axis=0) < 1.25 * w).all() \
            and landmarks_xy[:, 1].min() > -0.25 * h and landmarks_xy[:, 1].max() < 1.25 * h
        spread = float(np.ptp(landmarks_xy, axis=0).sum())
        if inside and spread > 4.0:
            view.crops.append(refined_crop(landmarks_xy, self.size))
            view.crop_sources.append("landmarks")
        else:
            view.crops.append(view.crops[-1])
            view.crop_sources.append("previous crop")

    def photos(self, front_path: str, side_path: str | list[str] | None = None) -> list[tuple[str, str]]:
        """The (view, path) pairs the network reads, front first: one side photo for a two-view network (which
        must have one), every side photo for a multi-view network (none, one or more); side photos a network
        does not read are not used (logged)."""
        sides = [] if side_path is None else [side_path] if isinstance(side_path, (str, os.PathLike)) else list(side_path)
        if self.needs_side and not sides:
            raise FrontsideError(f"{self.checkpoint}: a two-view network needs --side")
        for unused in sides[self.takes_sides:]:
            what = "a front-only network" if self.takes_sides == 0 else f"a network of {self.takes_sides} side photo"
            log.warning("%s: not used: %s is %s (%s)", unused, self.checkpoint, what, self.predictor.arch)
        used = sides[:self.takes_sides]
        return [("front", str(front_path))] + [("side", str(p)) for p in used]

    def reconstruct(self, front_path: str, side_path: str | list[str] | None = None, iterations: int = 2,
                    detect: bool = True, first_crop: np.ndarray | None = None) -> Reconstruction:
        """Predict `iterations` times, each crop of the front photo after the first made from the landmarks of
        the previous prediction (the first from the detection, or `first_crop` (3, 3) when given). The side
        photo, which two-view networks read, keeps its first crop (the network predicts the front view's surface
        only, so it gives no side landmarks to crop by); its pose is fitted to the locator's 68 landmarks when the
        locator found it (`pose.head_pose_2d`, the mean face as reference)."""
        if iterations < 1:
            raise ValueError(f"iterations must be at least 1, not {iterations}")
        timings: dict[str, float] = defaultdict(float)
        views = [self._view(path, view, detect, timings, first_crop if view == "front" else None)
                 for view, path in self.photos(front_path, side_path)]
        front, sides = views[0], views[1:]
        side = sides[0] if sides else None
        for each in sides:
            each.crop_image = warp_image_shrinking(each.image, each.crops[0], self.size)
        for i in range(iterations):
            t = time.perf_counter()
            front.crop_image = warp_image_shrinking(front.image, front.crops[-1], self.size)
            timings["crop"] += time.perf_counter() - t
            t = time.perf_counter()
            if self.predictor.views == "any":  # a multi-view network: every photo given
                posmap = self.predictor.predict_views([[front.crop_image] + [s.crop_image for s in sides]])[0][0]
            else:
                posmap = self.predictor.predict(front.crop_image, None if side is None else side.crop_image)
            timings["predict"] += time.perf_counter() - t
            t = time.perf_counter()
            landmarks_3d = sample_posmap(posmap, self.landmark_uv)
            front.landmarks = crop_to_photo(landmarks_3d, front.crops[-1]).astype(np.float32)
            front.landmarks_from = "network"
            if i + 1 < iterations:
                self._refine(front, front.landmarks)
            timings["landmarks"] += time.perf_counter() - t
        t = time.perf_counter()
        front.pose = in_photo(head_pose(self.reference_landmarks, landmarks_3d), np.linalg.inv(front.crops[-1]))
        for each in sides:
            if each.landmarks is not None:
                each.pose = head_pose_2d(self.reference_landmarks, each.landmarks)
        timings["pose"] += time.perf_counter() - t
        return Reconstruction(front, side, posmap, landmarks_3d, dict(timings), sides[1:])

    def reconstruct_in_photo(self, path: str, fallback_landmarks: np.ndarray, uv: np.ndarray | None = None,
                             iterations: int = 2) -> dict:
        """One front photo reconstructed and answered in its own frame (what a benchmark with 3D truth scores):
        {"landmarks": (68, 3), "points": (M, 3) the face's position-map pixels, "vertices": (N, 3) at `uv` (N, 2)
        when given, else None, "detected": whether the first crop came from the detector}. Where no face is found
        the first crop is training's crop of `fallback_landmarks` (68, >= 2) instead."""
        try:
            result, detected = self.reconstruct(path, iterations=iterations), True
        except NoFaceError:
            first = refined_crop(np.asarray(fallback_landmarks, np.float64)[:, :2], self.size)
            result, detected = self.reconstruct(path, iterations=iterations, first_crop=first), False
        return {"landmarks": result.in_photo(result.landmarks_3d), "points": result.in_photo(result.posmap[self.face_mask]),
                "vertices": None if uv is None else result.in_photo(sample_posmap(result.posmap, uv)),
                "detected": detected}

    def write(self, result: Reconstruction, out: str | os.PathLike, face_json: str | os.PathLike | None = None,
              preview: str | os.PathLike | None = None) -> dict[str, Path]:
        """The mesh at `out` (.obj/.ply/.glb), face.json beside it (or at `face_json`), the preview if asked.
        Returns the paths written."""
        from frontside.pictures import write_png
        from frontside.store.manifest import code_version

        t = time.perf_counter()
        out = Path(out)
        texture = uv_texture(result.posmap, result.front.crop_image)
        written = {"mesh": write_mesh(out, result.posmap, self.face_mask, texture)}
        result.timings["mesh"] = time.perf_counter() - t
        record = {
            "frontside_version": code_version(),
            "checkpoint": self.checkpoint,
            "arch": self.predictor.arch,
            "face_model": self.face_model,
            "crop_size": self.size,
            "mesh": out.name,
            "mesh_frame": MESH_FRAME,
            "landmarks_3d": to_mesh_frame(result.landmarks_3d, self.size),
            "front": result.front.as_dict(self.size),
            "side": None if result.side is None else result.side.as_dict(self.size),
            **({"more_sides": [v.as_dict(self.size) for v in result.more_sides]} if result.more_sides else {}),
            "seconds": result.timings,
        }
        if preview is not None:
            t = time.perf_counter()
            vertices, triangles = posmap_to_mesh(result.posmap, self.face_mask)
            picture = preview_picture(_preview_view(result.front, self.size),
                                      None if result.side is None else _preview_view(result.side, self.size),
                                      to_mesh_frame(vertices, self.size), triangles)
            written["preview"] = write_png(preview, picture)
            result.timings["preview"] = time.perf_counter() - t
        written["json"] = write_face_json(face_json or out.with_suffix(".json"), record)
        return written


def _preview_view(view: ViewResult, size: int) -> dict:
    boxes = []
    if view.detection is not None:
        boxes.append((list(view.detection.box), DETECTION))
    x, y, side = crop_box(view.crops[-1], size)
    boxes.append(([x, y, side, side], CROP))
    return {"image": view.image, "boxes": boxes, "landmarks": view.landmarks}

