"""Make the face locator's shipped weights (`frontside/reconstruct/locator.npz`) and their figures.

    python benchmarks/train_locator.py [--faces 300] [--cache DIR] [--out frontside/reconstruct/locator.npz]
                                       [--figures docs/figures/locator.json]

Recipe: the front and side view of `--faces` built-in faces (seed 14, poses as `make_face` draws them: front
|yaw| <= 45, side 45-100 degrees) rendered at 320 px and cut to their coverage; stage 1 trained on them pasted
into letterboxed photos of random aspect over the built-in backgrounds (10% without a face), stage 2 on jittered
training crops of them (see `tools.locator_training`). Torch runs on `--threads` threads (the
weights' bytes depend on it: 1 made the shipped ones). Then the figures: on the demo's 24 held-out faces rendered
as 640 x 480 JPEG photos (seed 1,000,003, `reconstruct.photos`), how many faces are found, the landmark error in
photo pixels, and how far training's crop of the found landmarks is from the crop of the true ones (pixels of a
256 crop; and whether training's crop jitter could have drawn it, `crop.within_training_jitter`). `--cache` keeps the rendered sprites between runs (they are the slow part; the cache is keyed by seed
and face only: clear it when the renderer changes). `--measure-only` skips training and measures the weights at
`--out` again (the figures' training part is kept), e.g. after a renderer change.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from _common import emit

from frontside.io import write_atomic
from frontside.reconstruct.crop import crop_corner_error, within_training_jitter
from frontside.reconstruct.locator import WEIGHTS, BoxNet, LandmarkNet, Locator, LocatorSpec, save_locator
from tools.locator_training import (
    Sprite,
    TrainSettings,
    background_pool,
    render_sprites,
    train_box_net,
    train_landmark_net,
)

SEED = 14
HELD_OUT_SEED = 1_000_003  # the demo's held-out faces: never trained on
CHUNK = 50


def sprites_cached(seed: int, faces: int, cache: Path | None) -> list[Sprite]:
    """Render the sprites of faces 0..faces-1, CHUNK faces a file in `cache` (reused when present)."""
    sprites = []
    for first in range(0, faces, CHUNK):
        indices = range(first, min(first + CHUNK, faces))
        path = None if cache is None else cache / f"sprites-{seed}-{indices.start}-{indices.stop}.npz"
        if path is not None and path.exists():
            with np.load(path) as stored:
                sprites += [Sprite(stored[f"rgba{i}"], stored[f"landmarks{i}"], float(stored["yaw"][i]))
                            for i in range(len(stored["yaw"]))]
            continue
        chunk = render_sprites(seed, indices)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            arrays = {"yaw": np.array([s.yaw for s in chunk])}
            for i, s in enumerate(chunk):
                arrays[f"rgba{i}"], arrays[f"landmarks{i}"] = s.rgba, s.landmarks
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            write_atomic(path, buffer.getvalue())
        sprites += chunk
        print(f"rendered faces {indices.start}-{indices.stop - 1}", flush=True)
    return sprites


def figures(locator: Locator, pairs, passes: int) -> dict:
    """Per view: faces found (a box on the true face, `photos.finds_face`), landmark error (px), crop error."""
    from tools.photos import finds_face

    out = {}
    for view in ("front", "side"):
        found, errors, crops, jittered, seconds, missed = 0, [], [], 0, [], []
        for pair in pairs:
            photo = getattr(pair, view)
            start = time.perf_counter()
            located = locator.locate(photo.image, passes=passes)
            seconds.append(time.perf_counter() - start)
            if located is None or not finds_face(located.box, photo.landmarks):
                missed.append(f"{pair.name} (yaw {photo.pose.yaw:.0f})")
                continue
            found += 1
            errors.append(float(np.linalg.norm(located.landmarks - photo.landmarks, axis=1).mean()))
            crops.append(crop_corner_error(located.landmarks, photo.landmarks))
            jittered += within_training_jitter(located.landmarks, photo.landmarks)
        out[view] = {
            "found": f"{found}/{len(pairs)}", "rate": found / len(pairs), "missed": missed,
            "landmark_error_px_mean_median": round(statistics.median(errors), 2) if errors else None,
            "landmark_error_px_mean_max": round(max(errors), 2) if errors else None,
            "crop_corner_error_px256_median": round(statistics.median(crops), 2) if crops else None,
            "crop_corner_error_px256_max": round(max(crops), 2) if crops else None,
            "crops_within_3px": f"{sum(c <= 3.0 for c in crops)}/{len(pairs)}",
            "crops_within_training_jitter": f"{jittered}/{len(pairs)}",
            "ms_per_photo_median": round(1000 * statistics.median(seconds), 1),
        }
    return out


_SHARED: dict = {}  # what the forked training processes inherit (the sprites are large to pickle)


def _train_stage(stage: str) -> tuple[dict, list[float]]:
    import torch

    torch.set_num_threads(_SHARED["threads"])
    torch.use_deterministic_algorithms(True)
    train = train_box_net if stage == "box" else train_landmark_net
    net, history = train(_SHARED["spec"], _SHARED["sprites"], _SHARED["pool"], _SHARED["settings"],
                         log=lambda line: print(line, flush=True))
    return net.state_dict(), history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--box-steps", type=int, default=TrainSettings.box_steps)
    parser.add_argument("--landmark-steps", type=int, default=TrainSettings.landmark_steps)
    parser.add_argument("--batch", type=int, default=TrainSettings.batch)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each of the two training "
                        "processes (the stages train side by side)")
    parser.add_argument("--passes", type=int, default=3, help="stage-2 passes when measuring")
    parser.add_argument("--held-out", type=int, default=24)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--figures", type=Path, default=Path("docs/figures/locator.json"))
    parser.add_argument("--measure-only", action="store_true", help="measure the weights at --out, no training")
    args = parser.parse_args()
    load_start = os.getloadavg()
    if args.measure_only:
        locator = Locator.load(args.out)
        kept = json.loads(args.figures.read_text()) if args.figures.exists() else {}
        return _measure(args, locator, locator.meta, kept.get("training"), load_start)

    import torch

    start = time.perf_counter()
    sprites = sprites_cached(SEED, args.faces, args.cache)
    pool = background_pool(SEED, 512)
    render_s = time.perf_counter() - start
    spec = LocatorSpec()
    settings = TrainSettings(seed=SEED, box_steps=args.box_steps, landmark_steps=args.landmark_steps,
                             batch=args.batch)
    start = time.perf_counter()
    _SHARED.update(spec=spec, sprites=sprites, pool=pool, settings=settings, threads=args.threads)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as workers:
        box, landmark = workers.map(_train_stage, ("box", "landmark"))
    box_net, box_history = BoxNet(spec), box[1]
    box_net.load_state_dict(box[0])
    landmark_net, landmark_history = LandmarkNet(spec), landmark[1]
    landmark_net.load_state_dict(landmark[0])
    train_s = time.perf_counter() - start
    recipe = {"script": "benchmarks/train_locator.py", "seed": SEED, "faces": args.faces, "sprites": len(sprites),
              "settings": settings.__dict__, "threads": args.threads, "torch": torch.__version__,
              "licence": "frontside's own (trained only on frontside's built-in face model renders)"}
    save_locator(args.out, spec, box_net, landmark_net, recipe)
    training = {"render_seconds": round(render_s, 1), "train_seconds": round(train_s, 1),
                "box_loss_last100": round(float(np.mean(box_history[-100:])), 4),
                "landmark_l1_px128_last100": round(float(np.mean(landmark_history[-100:])), 3)}
    _measure(args, Locator.load(args.out), recipe, training, load_start)


def _measure(args: argparse.Namespace, locator: Locator, recipe: dict, training: dict | None,
             load_start: tuple[float, float, float]) -> None:
    """The held-out figures of `locator`, written to `args.figures` and printed."""
    from tools.photos import photo_pairs

    pairs = photo_pairs(HELD_OUT_SEED, range(args.held_out))
    result = {
        "recipe": recipe,
        "weights": {"path": os.path.relpath(args.out), "bytes": args.out.stat().st_size},
        "training": training,
        "held_out": {"seed": HELD_OUT_SEED, "pairs": args.held_out, "photo": "640x480 JPEG",
                     "passes": args.passes, **figures(locator, pairs, args.passes)},
        "loadavg_start_end": [load_start, os.getloadavg()],
    }
    args.figures.parent.mkdir(parents=True, exist_ok=True)
    args.figures.write_text(json.dumps(result, indent=2) + "\n")
    emit(result)


if __name__ == "__main__":
    main()
