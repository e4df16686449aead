"""What does each realism option of dataset generation buy the locator on real photos, and what does it cost?
(issue 22, item 3)

For each option, a dataset of two-view faces made with it (timed: pairs/s on one process), the
shipped locator's landmark net fine-tuned on its views, and the 68 landmarks it then gives on the real photos that
ship with scikit-image and matplotlib scored against dlib's.

    python benchmarks/locator_realism.py [--variants none skin eyes occluders camera all] [--faces 400]
                                         [--steps 300] [--sets portraits portraits_aug lfw_faces]
                                         [--out bench-locator-realism]
    python benchmarks/locator_realism.py --variants none --faces 10 --steps 3 --out /tmp/lr-test  # a smoke run

Variants: "shipped" (the weights as they ship, no fine-tune) and "none" (fine-tuned on plain renders: the fair
"before") always run; each other one is a `GenerateParams.realism` value ("skin", "eyes", "occluders", "camera",
"all" or a comma list). A variant's dataset is `GenerateParams(n_faces=--faces, views=2, seed=14, realism=...)`
made by the dataset driver on one spawned process; its fine-tune starts from the shipped landmark net's weights
and runs --steps steps of batch 32 (AdamW, lr 5e-4, cosine with warm-up: `tools.locator_training._cosine`) on
stage-2 samples of its rows' views (each view's S x S image over its own background with its 68 landmarks, as a
sprite: turned, scaled 0.8-1.25 x, shifted, degraded and mirrored half the time by
`tools.locator_training.landmark_sample`), drawn from `sample_rng(14, 2, step, i)`: every variant sees the same
jitter and the same face indices, only the images differ. Only the landmark net's weights differ between
variants.

Real photos and their reference (measurement only, never in the package): `tools.real_photos.SETS`. The
portraits (and portraits_aug, made from them) carry dlib's 68 landmarks already; a set whose reference is a
landmark box only (lfw_faces, lfw_faces_rot) gets its 68 from dlib's 68-point predictor (face-recognition-models;
its iBUG 300-W training data is non-commercial: used here to measure, as the portraits' were) inside dlib's HOG
box where one overlaps the reference box, else inside the reference box; cached in `<out>/references.json`.

Landmarks: the locator's stage 2 as `Locator.locate` runs it for the reconstruct pipeline (the photo shrunk as
`detect.shrunk_for_detection` does, a first crop by `crop_from_landmark_box`, then 3 passes, each on training's
crop of the previous answer), with stage 1's box replaced by the reference landmarks' box: detection does not
enter the comparison. (The pipeline has no path that refines locator landmarks inside a real detector's box: a box
detector's face is cropped by `reconstruct.crop.box_rule`, and the locator's landmarks reach the pipeline only
from `locate`, as the "locator" detector or auto's fallback.)

Metric: NME = mean point distance / sqrt(w * h) of the reference landmarks' box, in %, mean and median over a
set's photos; also jaw (points 0-16) and inner (17-67) apart, after stage 2's first pass alone ("all_pass1"), and
`jaw_outward`: the jaw points' mean signed distance from dlib's along the direction away from the reference box's
centre (% of the same norm; > 0: the locator's contour lies outside dlib's jaw line). dlib is a reference, not the
truth: on scikit-image's "camera" (a face turned nearly to profile) its 68 are a frontal template laid over the
cheek, so that photo's (and its 5 portraits_aug variants') error says little; lfw_faces' are made by the
predictor on 8x upscaled 25 px crops.

Writes `<out>/locator_realism.json` (per variant: pairs/s, generation and fine-tune seconds, the last steps' train
L1, NME per set) and `<out>/locator_realism.png` (the three portraits: dlib's landmarks green, the shipped
locator's red, each fine-tuned variant's blue, a panel per variant), and prints the JSON. Datasets in `<out>` are
reused (generation resumes; their timing is kept beside them) and so are fine-tuned weights of the same
variant, faces and steps.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import io
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
from _common import emit

from frontside.io import write_atomic

SEED = 14
BATCH = 32
LR = 5e-4
WEIGHT_DECAY = 1e-4  # as tools.locator_training's stages
SHARD_SIZE = 50
PASSES = 3  # Locator.locate's default: what the "locator" detector and auto's fallback run
TRAIN_L1_LAST = 50  # the final train L1 is the mean over the last this many steps
JAW, INNER = slice(0, 17), slice(17, 68)
DEFAULT_SETS = ("portraits", "portraits_aug", "lfw_faces")
DEFAULT_VARIANTS = ("none", "skin", "eyes", "occluders", "camera", "all")
PREDICTOR = "shape_predictor_68_face_landmarks.dat"
REFERENCES = "references.json"


# ------------------------------------------------------------------------------------------------ references

def _dlib():
    import dlib

    from frontside.reconstruct.detectors.dlib import face_recognition_models_file

    # face_recognition_models' own pose_predictor_model_location() imports pkg_resources, which setuptools 81+
    # no longer has: the file is found the way frontside finds the package's CNN detector
    return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(face_recognition_models_file(PREDICTOR)))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def dlib_68(image: np.ndarray, reference: np.ndarray, tools) -> tuple[np.ndarray, str]:
    """dlib's 68 landmarks (68, 2) in photo pixels (+0.5 pixel centres, as the portraits' reference) of the face
    whose reference landmark box is `reference`'s, and where its rectangle came from ("hog": dlib's HOG box that
    overlaps the reference box most, "reference box" when none does)."""
    dlib, detector, predictor = tools
    lo, hi = reference.min(axis=0) - 0.5, reference.max(axis=0) - 0.5  # dlib's integer pixel centres
    box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    image = np.ascontiguousarray(image[..., :3])
    found = [(r, _overlap(box, (r.left(), r.top(), r.right(), r.bottom()))) for r in detector(image, 1)]
    found = [f for f in found if f[1] > 0.0]
    if found:
        rect, source = max(found, key=lambda f: f[1])[0], "hog"
    else:
        rect, source = dlib.rectangle(*(int(round(v)) for v in box)), "reference box"
    shape = predictor(image, rect)
    return np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float64), source


def reference_sets(names: list[str], out: Path) -> tuple[dict[str, list], dict]:
    """{set: [(photo name, image, reference (68, 2))]} and how each set's reference was made. A set whose
    reference is a landmark box gets dlib's 68 (`dlib_68`), cached in `out`/references.json."""
    from tools.real_photos import REFERENCE, SETS

    path = out / REFERENCES
    cache = json.loads(path.read_text()) if path.exists() else {}
    sets, sources, tools, changed = {}, {}, None, False
    for name in names:
        photos = [p for p in SETS[name]() if p.reference is not None]
        if not photos:
            raise SystemExit(f"locator_realism: --sets {name}: its photos hold no face (nothing to measure)")
        if all(len(p.reference) == 68 for p in photos):
            sets[name] = [(p.name, p.image, np.asarray(p.reference, np.float64)) for p in photos]
            sources[name] = {"landmarks": f"dlib, stored in {REFERENCE.relative_to(REFERENCE.parents[1])}"}
            continue
        held = cache.setdefault(name, {})
        rows, counts = [], {}
        for p in photos:
            if p.name not in held:
                if tools is None:
                    tools = _dlib()
                points, source = dlib_68(p.image, np.asarray(p.reference, np.float64), tools)
                held[p.name] = {"landmarks": np.round(points, 3).tolist(), "rectangle": source}
                changed = True
            counts[held[p.name]["rectangle"]] = counts.get(held[p.name]["rectangle"], 0) + 1
            rows.append((p.name, p.image, np.asarray(held[p.name]["landmarks"], np.float64)))
        sets[name] = rows
        sources[name] = {"landmarks": f"dlib's 68-point predictor ({PREDICTOR}), cached in {path}",
                         "rectangles": counts}
    if changed:
        write_atomic(path, json.dumps(cache))
    return sets, sources


# ------------------------------------------------------------------------------------------------ measuring

def locator_68(locator, image: np.ndarray, reference: np.ndarray, passes: int = PASSES) -> np.ndarray:
    """The locator's 68 landmarks (68, 2) in photo pixels: `Locator.locate` with stage 1's answer replaced by the
    reference landmarks' box (centre, (w + h) / 2), on the photo as `detect_face` hands it over."""
    from frontside.reconstruct.detect import shrunk_for_detection

    small, factor = shrunk_for_detection(image)
    lo, hi = reference.min(axis=0) / factor, reference.max(axis=0) / factor
    boxed = copy.copy(locator)  # the same networks; only this copy's stage 1 answers with the reference box
    boxed.find_box = lambda _image: ((lo + hi) / 2.0, float((hi - lo).sum()) / 2.0, 1.0)
    located = boxed.locate(small, passes=passes, min_score=0.0)
    return located.landmarks.astype(np.float64) * factor


def errors(found: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """One photo's NME (%): all 68, jaw, inner; and the jaw's outward offset (%, see the module's text)."""
    lo, hi = reference.min(axis=0), reference.max(axis=0)
    norm = float(np.sqrt(np.prod(hi - lo)))
    distance = np.linalg.norm(found - reference, axis=1) / norm * 100.0
    outward = reference[JAW] - (lo + hi) / 2.0
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    return {"all": float(distance.mean()), "jaw": float(distance[JAW].mean()),
            "inner": float(distance[INNER].mean()),
            "jaw_outward": float(((found[JAW] - reference[JAW]) * outward).sum(axis=1).mean() / norm * 100.0)}


def measure(locator, sets: dict[str, list]) -> tuple[dict, dict]:
    """Per set: mean and median over photos of each `errors` figure (and of the NME after the first pass alone,
    "all_pass1"); and every photo's landmarks by name."""
    summary, landmarks = {}, {}
    for name, photos in sets.items():
        rows = []
        for photo, image, reference in photos:
            found = locator_68(locator, image, reference)
            landmarks[photo] = found
            rows.append({**errors(found, reference),
                         "all_pass1": errors(locator_68(locator, image, reference, passes=1), reference)["all"]})
        summary[name] = {"photos": len(rows)}
        for key in rows[0]:
            values = [r[key] for r in rows]
            summary[name][key] = {"mean": round(statistics.fmean(values), 3),
                                  "median": round(statistics.median(values), 3)}
    return summary, landmarks


# ------------------------------------------------------------------------------------------------ data

def variant_params(variant: str, faces: int):
    """The dataset's `GenerateParams`: realism passed only for a variant other than "none"."""
    from frontside.synthesis.config import GenerateParams

    extra = {} if variant == "none" else {"realism": variant}
    return GenerateParams(n_faces=faces, shard_size=SHARD_SIZE, seed=SEED, views=2, **extra)


def generate(variant: str, faces: int, out: Path) -> tuple[str, dict]:
    """The variant's dataset in `out` (made, resumed or kept by the dataset driver on one spawned process) and
    its generation timing: of this run when it wrote shards, else as recorded when they were written."""
    from frontside.store import driver
    from frontside.synthesis.generate import GenerateSource

    root = out / f"data-{variant.replace(',', '+')}-f{faces}"
    timing_path = out / f"{root.name}.timing.json"
    started = time.perf_counter()
    summary = driver.make_dataset(GenerateSource(variant_params(variant, faces)), str(root),
                                  driver.run_in_processes(1))
    seconds = time.perf_counter() - started
    if summary.written == 0 and timing_path.exists():
        return str(root), json.loads(timing_path.read_text())
    made = summary.rows - min(summary.kept * SHARD_SIZE, summary.rows)  # faces of the shards written now
    timing = {"faces_timed": made, "generate_s": round(seconds, 2),
              "pairs_per_s": round(made / seconds, 3) if made else None,
              "note": "one spawned process, its start and the model's loading included"}
    if made:
        write_atomic(timing_path, json.dumps(timing))
    return str(root), timing


def dataset_sprites(root: str) -> list:
    """Every view of every row as a `tools.locator_training.Sprite`: its S x S image over its own background
    (opaque: pasting shows new background only outside it) with its 68 landmarks (hidden ones too) and yaw."""
    from frontside.learning.data import ShardDataset
    from tools.locator_training import Sprite

    data = ShardDataset(root, labels=True)
    sprites = []
    for index in range(len(data)):
        for view in data.face(index).views:
            rgba = np.concatenate([view.image, np.full(view.image.shape[:2] + (1,), 255, np.uint8)], axis=2)
            sprites.append(Sprite(rgba, np.ascontiguousarray(view.labels.landmarks[:, :2], np.float32),
                                  float(view.yaw)))
    return sprites


# ------------------------------------------------------------------------------------------------ fine-tuning

def shipped_landmark_net():
    """(spec, the shipped stage-2 net with its batch norms, unfused and trainable, the weights' record)."""
    from frontside.reconstruct.locator import WEIGHTS, read_networks

    spec, _, net, meta = read_networks(WEIGHTS)
    return spec, net, meta


def fine_tune(sprites: list, pool: np.ndarray, steps: int, log=print) -> tuple[dict, list[float], float]:
    """The shipped landmark net trained `steps` more steps on `sprites` (module text): (its state dict, the
    train L1 per step in 128-crop pixels, seconds)."""
    import torch

    from frontside.reconstruct.locator import to_tensor
    from tools.locator_training import _cosine, landmark_sample, sample_rng

    torch.manual_seed(SEED + 1)
    spec, net, _ = shipped_landmark_net()
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    schedule = _cosine(optimizer, steps)
    s, history, started = spec.landmark_input, [], time.perf_counter()
    for step in range(steps):
        images, targets = [], []
        for i in range(BATCH):
            rng = sample_rng(SEED, 2, step, i)
            image, points = landmark_sample(sprites[rng.integers(len(sprites))], pool, rng, s)
            images.append(image)
            targets.append(points / s - 0.5)
        loss = (net(to_tensor(np.stack(images))) - torch.from_numpy(np.stack(targets)).float()).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(float(loss.detach()) * s)
        if step % 50 == 0 or step + 1 == steps:
            log(f"  step {step}: L1 {np.mean(history[-50:]):.3f} px ({time.perf_counter() - started:.0f} s)")
    return net.state_dict(), history, time.perf_counter() - started


def tuned(variant: str, root: str, args: argparse.Namespace, pool: np.ndarray) -> dict:
    """The variant's fine-tuned state, history and seconds: from `args.out` when made before with the same
    faces and steps, else made now (and kept there)."""
    import torch

    path = args.out / f"tuned-{variant.replace(',', '+')}-f{args.faces}-s{args.steps}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    started = time.perf_counter()
    sprites = dataset_sprites(root)
    read_s = time.perf_counter() - started
    print(f"{variant}: fine-tuning on {len(sprites)} views ({read_s:.0f} s to read them)", flush=True)
    state, history, seconds = fine_tune(sprites, pool, args.steps)
    held = {"state": state, "history": history, "seconds": seconds, "read_s": read_s}
    buffer = io.BytesIO()
    torch.save(held, buffer)
    write_atomic(path, buffer.getvalue())
    return held


def locator_with(state: dict | None):
    """The shipped locator, or the same with its landmark net's weights replaced by `state`."""
    from frontside.reconstruct.locator import LandmarkNet, Locator

    shipped = Locator.load()
    if state is None:
        return shipped
    net = LandmarkNet(shipped.spec)
    net.load_state_dict(state)
    return Locator(shipped.spec, shipped.box_net, net, shipped.meta)  # box_net is fused already: left as it is


# ------------------------------------------------------------------------------------------------ picture

def plot(sets: dict[str, list], found: dict[str, dict], path: Path) -> None:
    """The portraits (rows) by fine-tuned variant (columns): dlib green, shipped red, the variant blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from frontside.pictures import figure_png

    portraits = sets.get("portraits") or next(iter(sets.values()))[:3]
    columns = [v for v in found if v != "shipped"] or ["shipped"]
    fig, axes = plt.subplots(len(portraits), len(columns), figsize=(3.2 * len(columns), 3.4 * len(portraits)),
                             squeeze=False)
    for r, (name, image, reference) in enumerate(portraits):
        lo, hi = reference.min(axis=0), reference.max(axis=0)
        centre, half = (lo + hi) / 2.0, 0.8 * float((hi - lo).max())
        for c, variant in enumerate(columns):
            ax = axes[r][c]
            ax.imshow(image)
            ax.set_xlim(centre[0] - half, centre[0] + half)
            ax.set_ylim(centre[1] + half, centre[1] - half)
            drawn = [(reference, "lime", "dlib"), (found["shipped"][name], "red", "shipped")]
            if variant != "shipped":
                drawn.append((found[variant][name], "deepskyblue", variant))
            for points, colour, label in drawn:
                ax.scatter(points[:, 0] - 0.5, points[:, 1] - 0.5, s=6, c=colour, label=label)
            ours = errors(found[variant][name], reference)["all"]
            shipped = errors(found["shipped"][name], reference)["all"]
            ax.set_title(f"{name}: {variant} {ours:.1f}% (shipped {shipped:.1f}%)", fontsize=8)
            ax.axis("off")
            if r == 0 and c == 0:
                ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("NME vs dlib's 68 landmarks (norm sqrt(w h) of dlib's box); stage 2 from dlib's box", fontsize=9)
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=90))
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ main

def main() -> None:
    global SEED
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                        help="realism values to fine-tune on (\"none\" always runs; \"shipped\" needs no flag)")
    parser.add_argument("--faces", type=int, default=400, help="two-view faces generated per variant")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps of batch 32 per variant")
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="tools.real_photos sets to score on")
    parser.add_argument("--out", type=Path, default=Path("bench-locator-realism"))
    parser.add_argument("--seed", type=int, default=SEED,
                        help="the datasets' seed and the fine-tunes' (samples, init order): a run per seed gives the "
                             "spread (default: %(default)s; use another --out per seed)")
    args = parser.parse_args()
    SEED = args.seed

    import cv2
    import torch

    from frontside.synthesis.config import GenerateParams, check_parameters
    from frontside.threads import blas_on_one_thread
    from tools.real_photos import SETS

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cv2.setNumThreads(1)
    blas_on_one_thread()
    variants = ["none"] + [v for v in dict.fromkeys(args.variants) if v not in ("none", "shipped")]
    unknown = [s for s in args.sets if s not in SETS]
    if unknown:
        parser.error(f"--sets {' '.join(unknown)}: not a tools.real_photos set ({', '.join(sorted(SETS))})")
    has_realism = "realism" in {f.name for f in dataclasses.fields(GenerateParams)}
    for variant in variants:
        if variant != "none" and not has_realism:
            parser.error(f"--variants {variant}: this frontside's GenerateParams has no 'realism' field (the realism "
                         "options are not in yet): only 'none' runs")
        try:
            check_parameters(variant_params(variant, args.faces))
        except (TypeError, ValueError) as exc:  # ParameterError is a ValueError naming the field
            parser.error(f"--variants {variant}: {exc}")
    started, load_start = time.perf_counter(), os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)

    sets, references = reference_sets(args.sets, args.out)
    shipped_scores, shipped_found = measure(locator_with(None), sets)
    print(json.dumps({"shipped": shipped_scores}), flush=True)
    results: dict = {"shipped": {"pairs_per_s": None, "generate_s": None, "finetune_s": None, "train_l1_px": None,
                                 "nme": shipped_scores}}
    found = {"shipped": shipped_found}

    from tools.locator_training import background_pool

    pool = background_pool(SEED, 512)
    for variant in variants:
        root, timing = generate(variant, args.faces, args.out)
        print(f"{variant}: dataset {root} ({timing})", flush=True)
        held = tuned(variant, root, args, pool)
        scores, found[variant] = measure(locator_with(held["state"]), sets)
        history = held["history"]
        results[variant] = {
            "pairs_per_s": timing["pairs_per_s"], "generate_s": timing["generate_s"],
            "faces_timed": timing["faces_timed"], "finetune_s": round(held["seconds"], 1),
            "step_s": round(held["seconds"] / max(len(history), 1), 3),
            "train_l1_px": round(float(np.mean(history[-TRAIN_L1_LAST:])), 3) if history else None,
            "train_l1_px_first": round(float(np.mean(history[:TRAIN_L1_LAST])), 3) if history else None,
            "nme": scores}
        print(json.dumps({variant: {k: results[variant][k] for k in ("pairs_per_s", "train_l1_px", "nme")}}),
              flush=True)

    result = {
        "about": "the locator's 68 landmarks on real photos against dlib's (NME %, norm sqrt(w h) of dlib's "
                 "landmark box), stage 2 started from dlib's landmark box (no detection), 3 passes; per variant "
                 "the shipped landmark net fine-tuned on a dataset generated with that realism",
        "settings": {"faces": args.faces, "views": 2, "seed": SEED, "shard_size": SHARD_SIZE, "steps": args.steps,
                     "batch": BATCH, "lr": LR, "weight_decay": WEIGHT_DECAY, "schedule": "cosine, 5% warm-up",
                     "passes": PASSES, "generation_processes": 1, "torch_threads": 1, "torch": torch.__version__,
                     "shipped_weights": locator_with(None).meta.get("script")},
        "references": references,
        "variants": results,
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "loadavg_start_end": [load_start, os.getloadavg()],
    }
    write_atomic(args.out / "locator_realism.json", json.dumps(result, indent=2) + "\n")
    plot(sets, found, args.out / "locator_realism.png")
    emit(result)


if __name__ == "__main__":
    main()
