"""Reconstruction from photos: detection rates and first-crop error on held-out faces rendered as 640 x 480
photos, and the time per stage of one pair after the models are loaded.

    python benchmarks/reconstruct.py [--pairs 24] [--detectors auto,locator,haar,dlib-hog] [--checkpoint best.pt]

The photos are the demo's held-out faces (seed 1,000,003, `tools.photos`), as JPEG. A detection
counts when it lies on the true 68-landmark box (`photos.finds_face`). The first-crop error is how far
`crop_from_detection`'s crop is from the training crop of the true landmarks (`crop.crop_corner_error`, pixels of
a 256 crop), and whether training's crop jitter could have drawn it (`crop.within_training_jitter`); for box
detectors the medians of the landmark box relative to the detection box are printed too (what
`crop.BOX_TO_LANDMARKS` holds). Without --checkpoint the timing uses an untrained default network (the
structured `twoview`, the same cost as a trained one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit

from frontside.geometry.crop import crop_to_photo
from frontside.reconstruct.crop import crop_corner_error, crop_from_detection, within_training_jitter
from frontside.reconstruct.detect import PROFILE_LEFT, detect_face
from tools.photos import finds_face, photo_pairs

SEED = 1_000_003


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


def detection_report(pairs, detector: str) -> dict:
    out = {}
    for view in ("front", "side"):
        hits, seconds, errors, jittered, calibration, missed = 0, [], [], 0, {}, []
        for pair in pairs:
            photo = getattr(pair, view)
            start = time.perf_counter()
            found = detect_face(photo.image, view, detector)
            seconds.append(time.perf_counter() - start)
            if found is not None and finds_face(found.box, photo.landmarks):
                hits += 1
                points = found.landmarks if found.landmarks is not None else crop_corner_landmarks(found)
                errors.append(crop_corner_error(points, photo.landmarks))
                jittered += within_training_jitter(points, photo.landmarks)
                if found.landmarks is None:
                    kind = "frontal" if found.kind == "frontal" else "profile"
                    calibration.setdefault(kind, []).append(box_calibration(found, photo.landmarks))
            else:
                missed.append(f"{pair.name} (yaw {photo.pose.yaw:.0f})")
        out[view] = {
            "detected": f"{hits}/{len(pairs)}", "rate": hits / len(pairs),
            "ms_per_photo": round(1000 * statistics.median(seconds), 1), "missed": missed,
            "first_crop_error_px256_median": round(statistics.median(errors), 2) if errors else None,
            "first_crop_error_px256_max": round(max(errors), 2) if errors else None,
            "first_crops_within_3px": sum(e <= 3.0 for e in errors),
            "first_crops_within_training_jitter": jittered,
            "box_to_landmarks_median": {k: [round(statistics.median(c[i] for c in v), 3) for i in range(3)] + [len(v)]
                                        for k, v in calibration.items()},
        }
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
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--detectors", default="auto,haar")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_start = os.getloadavg()
    start = time.perf_counter()
    pairs = photo_pairs(SEED, range(args.pairs))
    render_s = time.perf_counter() - start
    stages = stage_times(pairs, args.checkpoint, args.repeats)  # first: it needs a pair both views are found in
    emit({
        "photos": {"pairs": args.pairs, "seed": SEED, "size": "640x480", "render_seconds": round(render_s, 1)},
        "stages": stages,
        "detection": {d: detection_report(pairs, d) for d in args.detectors.split(",")},
        "loadavg_start_end": [load_start, os.getloadavg()],
        "cpus": os.cpu_count(),
    })


if __name__ == "__main__":
    main()
