"""Reconstruction from photos: every detector on real photos that ship with scikit-image and matplotlib
(`tools.real_photos`: portraits, their crops and rotations, LFW's faces and non-faces, textures) and on held-out
faces rendered as 640 x 480 photos (`tools.photos`); the first crop's error; the time per stage of one
reconstruction after the models are loaded.

    python benchmarks/reconstruct.py [--pairs 24] [--detectors auto,blazeface,locator,haar,dlib-hog]
                                     [--real portraits,portraits_aug,lfw_faces,lfw_faces_rot,lfw_nonfaces,textures]
                                     [--limit N] [--checkpoint best.pt] [--no-stages]

Real photos: a detection is on the face when its box's centre lies inside the reference landmark box (10%
margin) and its size is 0.4-2.5 x that box's (`tools.photos.finds_face`); a "face" in a photo without one is a
false positive (non-faces and textures are given as front and as side photos). Rendered photos: the same test
against the true 68 landmarks. The first-crop error is how far `crop_from_detection`'s crop is from the
training crop of the true landmarks (`crop.crop_corner_error`, pixels of a 256 crop) and whether training's crop
jitter could have drawn it (`crop.within_training_jitter`); for box detectors the medians of the landmark box
relative to the detection box are printed (what `crop.BOX_TO_LANDMARKS` holds), on renders and on real photos.
ms per photo: wall time of `detect_face` on one thread (OpenCV and torch), median, 90th percentile and maximum,
and its CPU time (what contention from other work on a shared machine inflates far less).
Without --checkpoint the timing uses an untrained default network (the structured `twoview`, the same cost as a
trained one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _common import emit

from frontside.geometry.crop import crop_to_photo
from frontside.reconstruct.crop import crop_corner_error, crop_from_detection, within_training_jitter
from frontside.reconstruct.detect import PROFILE_LEFT, detect_face, load_detector
from tools.photos import finds_face, photo_pairs
from tools.real_photos import SETS

SEED = 1_000_003
NEGATIVE_SETS = ("lfw_nonfaces", "textures")


def box_calibration(detection, landmarks: np.ndarray) -> tuple[float, float, float]:
    """(dx, dy, size) of the true landmark box relative to the detection (see crop.BoxToLandmarks)."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    d = max(detection.width, detection.height)
    centre = (lo + hi) / 2.0
    toward_nose = -1.0 if detection.kind == PROFILE_LEFT else 1.0
    return (float(toward_nose * (centre[0] - detection.x - detection.width / 2.0) / d),
            float((centre[1] - detection.y - detection.height / 2.0) / d), float((hi - lo).sum()) / 2.0 / d)


def crop_corner_landmarks(detection, size: int = 256) -> np.ndarray:
    """(4, 2) photo points whose training crop is the detection's first crop (its square's corners shrunk by
    the crop margin), so a box detector's first crop can be scored as the locator's is."""
    a = crop_from_detection(detection, size)
    half = size / 2.0 / 1.5
    return crop_to_photo(np.array([[-half, -half], [half, half]]) + size / 2.0, a)


def _ms(seconds: list[float]) -> dict:
    ms = 1000.0 * np.asarray(seconds)
    return {"median": round(float(np.median(ms)), 1), "p90": round(float(np.percentile(ms, 90)), 1),
            "max": round(float(ms.max()), 1)}


def _calibration_medians(calibration: dict[str, list]) -> dict:
    return {k: [round(statistics.median(c[i] for c in v), 3) for i in range(3)] + [len(v)]
            for k, v in calibration.items()}


def _timed(image: np.ndarray, view: str, detector: str, cpu: list[float]):
    """detect_face's answer and its wall time; its CPU time (this thread's: everything runs on one thread) is
    appended to `cpu`, which contention on a shared machine inflates far less than the wall time."""
    start, start_cpu = time.perf_counter(), time.thread_time()
    found = detect_face(image, view, detector)
    cpu.append(time.thread_time() - start_cpu)
    return found, time.perf_counter() - start


def detection_report(pairs, detector: str) -> dict:
    """Rendered photos: found on the face, first-crop error, box calibration, time, per view."""
    out = {}
    for view in ("front", "side"):
        hits, seconds, cpu, errors, jittered, calibration, missed, by = 0, [], [], [], 0, {}, [], Counter()
        for pair in pairs:
            photo = getattr(pair, view)
            found, dt = _timed(photo.image, view, detector, cpu)
            seconds.append(dt)
            if found is not None and finds_face(found.box, photo.landmarks):
                hits += 1
                by[found.detector] += 1
                points = found.landmarks if found.landmarks is not None else crop_corner_landmarks(found)
                errors.append(crop_corner_error(points, photo.landmarks))
                jittered += within_training_jitter(points, photo.landmarks)
                if found.landmarks is None:
                    kind = "frontal" if found.kind == "frontal" else "profile"
                    calibration.setdefault(kind, []).append(box_calibration(found, photo.landmarks))
            else:
                missed.append(f"{pair.name} (yaw {photo.pose.yaw:.0f}"
                              + (")" if found is None else f", {found.detector} box off the face)"))
        out[view] = {
            "detected": f"{hits}/{len(pairs)}", "rate": hits / len(pairs), "found_by": dict(by),
            "ms_per_photo": _ms(seconds), "cpu_ms_per_photo": _ms(cpu), "missed": missed,
            "first_crop_error_px256_median": round(statistics.median(errors), 2) if errors else None,
            "first_crop_error_px256_max": round(max(errors), 2) if errors else None,
            "first_crops_within_3px": sum(e <= 3.0 for e in errors),
            "first_crops_within_training_jitter": jittered,
            "box_to_landmarks_median": _calibration_medians(calibration),
        }
    return out


def real_report(sets: dict[str, list], detector: str) -> dict:
    """Real photos: boxes on the face (photos with one) or false positives (photos without), time, missed names,
    and the box calibration over the faces found (68 landmarks of the portraits, LFW's known landmark box)."""
    out = {}
    for name, photos in sets.items():
        views = ("front", "side") if name in NEGATIVE_SETS else ("front",)
        for view in views:
            seconds, cpu, on_face, false_positives, missed, by, calibration = [], [], 0, 0, [], Counter(), {}
            for photo in photos:
                found, dt = _timed(photo.image, view, detector, cpu)
                seconds.append(dt)
                if photo.reference is None:
                    false_positives += found is not None
                    if found is not None:
                        missed.append(f"{photo.name} ({found.detector})")
                elif found is not None and finds_face(found.box, photo.reference):
                    on_face += 1
                    by[found.detector] += 1
                    if found.landmarks is None:
                        calibration.setdefault("frontal", []).append(box_calibration(found, photo.reference))
                else:
                    missed.append(photo.name)
            key = name if len(views) == 1 else f"{name} as {view} photos"
            faces = sum(p.reference is not None for p in photos)
            out[key] = ({"on_face": f"{on_face}/{faces}", "missed": missed[:20], "found_by": dict(by),
                         "box_to_landmarks_median": _calibration_medians(calibration)} if faces else
                        {"false_positives": f"{false_positives}/{len(photos)}", "flagged": missed[:20]})
            out[key]["ms_per_photo"] = _ms(seconds)
            out[key]["cpu_ms_per_photo"] = _ms(cpu)
    return out


def stage_times(pairs, checkpoint: str | None, repeats: int) -> dict:
    """Median seconds per stage of `Reconstructor.reconstruct` + `write` for a 640 x 480 pair (OBJ), after load."""
    from frontside.reconstruct.pipeline import Reconstructor

    with tempfile.TemporaryDirectory() as tmp:
        if checkpoint is None:
            from frontside.learning.checkpoint.saving import save_checkpoint
            from frontside.learning.networks.registry import build

            checkpoint = save_checkpoint(Path(tmp) / "untrained.pt", network=build("twoview"))
        start = time.perf_counter()
        reconstructor = Reconstructor(checkpoint)
        load_s = time.perf_counter() - start
        pair = next(p for p in pairs if detect_face(p.front.image, "front") and detect_face(p.side.image, "side"))
        for view in ("front", "side"):
            (Path(tmp) / f"{view}.jpg").write_bytes(getattr(pair, view).jpeg)
        runs = []
        for i in range(repeats + 1):  # the first run compiles numba kernels and warms torch: not counted
            start = time.perf_counter()
            result = reconstructor.reconstruct(str(Path(tmp) / "front.jpg"), str(Path(tmp) / "side.jpg"))
            reconstructor.write(result, Path(tmp) / "face.obj")
            result.timings["total"] = time.perf_counter() - start
            if i:
                runs.append(result.timings)
    return {"pair": pair.name, "load_seconds": round(load_s, 2), "repeats": repeats,
            "median_seconds": {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=24, help="rendered pairs (0: none)")
    parser.add_argument("--detectors", default="auto,blazeface,locator,haar,dlib-hog")
    parser.add_argument("--real", default=",".join(SETS), help="real-photo sets, comma-separated ('' for none)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos of each real set")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage timing of a reconstruction")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV and torch threads")
    args = parser.parse_args()
    import cv2
    import torch

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    start = time.perf_counter()
    pairs = photo_pairs(SEED, range(args.pairs)) if args.pairs else []
    render_s = time.perf_counter() - start
    sets = {name: SETS[name]()[:args.limit] for name in filter(None, args.real.split(","))}
    detectors = args.detectors.split(",")
    for detector in detectors:  # weights loaded before any timing
        load_detector(detector)
        detect_face(np.zeros((64, 64, 3), np.uint8), "front", detector)
    result = {
        "photos": {"pairs": args.pairs, "seed": SEED, "size": "640x480", "render_seconds": round(render_s, 1),
                   "real_sets": {k: len(v) for k, v in sets.items()}},
        "threads": args.threads,
    }
    if pairs and not args.no_stages:
        result["stages"] = stage_times(pairs, args.checkpoint, args.repeats)
    result["rendered"] = {d: detection_report(pairs, d) for d in detectors} if pairs else {}
    result["real"] = {d: real_report(sets, d) for d in detectors} if sets else {}
    result["loadavg_start_end"] = [load_start, os.getloadavg()]
    result["cpus"] = os.cpu_count()
    emit(result)


if __name__ == "__main__":
    main()
