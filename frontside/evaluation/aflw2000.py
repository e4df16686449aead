"""AFLW2000-3D scored by PRN's protocol: 68-point NME in 2D and in 3D, normalised by the true landmarks' box, by
yaw bins; a CED plot; dense NME when the BFM the fits were made with is given.

For each photo: `reconstruct(photo, true_landmarks)` (the reconstruct pipeline: detection, crops, predictions,
given by the caller so this room stays below it) answers the 68 landmarks and the face's points in the photo's
frame. Where the detector finds no face, the first crop is PRN's crop of the true landmarks instead, and the photo
is counted as such.

- NME 2D: mean over the 68 points of the x-y distance to `pt3d_68`, over sqrt(w h) of the true landmarks' x-y box.
- NME 3D: the same in x, y, z, after shifting the prediction's z so its 68 landmarks' mean z is the truth's (the
  two depths have different origins), over the same sqrt(w h).
- Dense NME (with the BFM): the fitted mesh (Shape_Para, Exp_Para, Pose_Para through the BFM) is the truth. A
  network that answers in that BFM's UV layout is scored by correspondence over its face vertices (PRN's); any
  other by the mean distance from each true face vertex to the nearest predicted face point; z aligned as above;
  over the same sqrt(w h).
- Yaw bins by |yaw| of Pose_Para: [0, 30), [30, 60), [60, 90] degrees (the few past 90 in the last); each bin's
  mean, their mean ("balanced", as 3DDFA and PRN report), and the mean over all photos.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from frontside.facemodel import MorphableModel
from frontside.io import write_atomic
from frontside.sources.aflw2000 import AFLW2000Sample

YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))
METRICS = ("nme_2d", "nme_3d", "nme_dense")


@dataclass(frozen=True)
class PhotoPrediction:
    """What a reconstruction of one photo answers, in the photo's frame (x right, y down, +0.5 pixel centres, z
    toward the camera in pixels): landmarks (68, 3); vertices (N, 3) at the evaluation model's vertices when the
    network answers in its UV layout, else None; points (M, 3) the predicted face surface; detected: whether the
    first crop came from the detector (else from the true landmarks)."""

    landmarks: np.ndarray
    points: np.ndarray
    vertices: np.ndarray | None
    detected: bool


@dataclass(frozen=True)
class AFLWScore:
    name: str
    yaw: float
    detected: bool
    nme_2d: float
    nme_3d: float
    nme_dense: float | None = None


def box_normaliser(landmarks: np.ndarray) -> float:
    """sqrt(w h) of the x-y bounding box of (68, >= 2) landmarks."""
    w, h = np.ptp(np.asarray(landmarks, np.float64)[:, :2], axis=0)
    return float(np.sqrt(w * h))


def z_aligned(points: np.ndarray, landmarks: np.ndarray, true_landmarks: np.ndarray) -> np.ndarray:
    """`points` (N, 3) with z shifted by the mean z difference between the true and the predicted landmarks."""
    out = np.asarray(points, np.float64).copy()
    out[:, 2] += float(np.mean(true_landmarks[:, 2]) - np.mean(np.asarray(landmarks, np.float64)[:, 2]))
    return out


def landmark_nmes(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(NME 2D, NME 3D) of (68, 3) predicted landmarks against the true ones (module text)."""
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    d = box_normaliser(truth)
    nme_2d = float(np.linalg.norm(predicted[:, :2] - truth[:, :2], axis=1).mean() / d)
    aligned = z_aligned(predicted, predicted, truth)
    return nme_2d, float(np.linalg.norm(aligned - truth, axis=1).mean() / d)


def dense_nme(prediction: PhotoPrediction, truth: np.ndarray, face: np.ndarray, true_landmarks: np.ndarray
              ) -> float:
    """Dense NME of a prediction against the fitted mesh `truth` (N, 3) over its face vertices `face` (N,) bool."""
    d = box_normaliser(true_landmarks)
    if prediction.vertices is not None:
        predicted = z_aligned(prediction.vertices, prediction.landmarks, true_landmarks)[face]
        return float(np.linalg.norm(predicted - truth[face], axis=1).mean() / d)
    points = z_aligned(prediction.points, prediction.landmarks, true_landmarks)
    distances, _ = cKDTree(points).query(truth[face])
    return float(np.mean(distances) / d)


def score_photo(sample: AFLW2000Sample, prediction: PhotoPrediction, model: MorphableModel | None = None,
                face: np.ndarray | None = None) -> AFLWScore:
    nme_2d, nme_3d = landmark_nmes(prediction.landmarks, sample.landmarks)
    dense = None
    if model is not None:
        face = np.ones(model.n_vertices, bool) if face is None else face
        dense = dense_nme(prediction, sample.dense_truth(model), face, sample.landmarks)
    return AFLWScore(sample.name, sample.yaw, prediction.detected, nme_2d, nme_3d, dense)


def evaluate_aflw2000(reconstruct: Callable[[str, np.ndarray], PhotoPrediction], samples: list[AFLW2000Sample],
                      model: MorphableModel | None = None, face: np.ndarray | None = None) -> list[AFLWScore]:
    """Every sample reconstructed (`reconstruct(photo path, true landmarks (68, 3))`) and scored."""
    return [score_photo(s, reconstruct(str(s.image_path), s.landmarks), model, face) for s in samples]


def yaw_bin(yaw: float) -> int:
    return next((i for i, (lo, hi) in enumerate(YAW_BINS) if lo <= yaw < hi), len(YAW_BINS) - 1)


def summary(scores: list[AFLWScore]) -> dict:
    """Per metric: the mean in each yaw bin, the balanced mean of the bins, the mean over all photos; photo counts
    per bin and how many first crops the detector gave."""
    bins = [[s for s in scores if yaw_bin(s.yaw) == i] for i in range(len(YAW_BINS))]
    out: dict = {"photos": len(scores), "detected": sum(s.detected for s in scores),
                 "per_bin": [len(b) for b in bins], "bins": [f"{lo:.0f}-{hi:.0f}" for lo, hi in YAW_BINS]}
    for metric in METRICS:
        values = [[getattr(s, metric) for s in b if getattr(s, metric) is not None] for b in bins]
        if not any(values):
            continue
        means = [float(np.mean(v)) if v else None for v in values]
        present = [m for m in means if m is not None]
        out[metric] = {"by_bin": means, "balanced": float(np.mean(present)),
                       "all": float(np.mean([x for v in values for x in v]))}
    return out


def save_scores(scores: list[AFLWScore], name: str, checkpoint: str, arch: str, path: str | Path) -> Path:
    body = {"name": name, "checkpoint": checkpoint, "arch": arch, "faces": [asdict(s) for s in scores]}
    return Path(write_atomic(Path(path), json.dumps(body, indent=1)))


def load_scores(path: str | Path) -> dict:
    body = json.loads(Path(path).read_text())
    body["faces"] = [AFLWScore(**f) for f in body["faces"]]
    return body


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def write_aflw2000_report(models: list[dict], out: str | Path, root: str) -> dict[str, Path]:
    """report.json, report.md (the protocol's table, NME in % of sqrt(w h)) and ced.png (2D, 3D and dense CED of
    every model). models: `load_scores` bodies."""
    from frontside.geometry.metrics import ced_plot

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = {m["name"]: summary(m["faces"]) for m in models}
    body = {"title": "AFLW2000-3D", "root": root, "protocol": "PRN: NME over sqrt(w h) of the true 68-landmark box",
            "models": [{"name": m["name"], "checkpoint": m["checkpoint"], "arch": m["arch"],
                        **summaries[m["name"]]} for m in models],
            "faces": {m["name"]: [asdict(s) for s in m["faces"]] for m in models}}
    paths = {"json": Path(write_atomic(out / "report.json", json.dumps(body, indent=1) + "\n"))}
    curves = {f"{m['name']} {metric[4:]}": np.array([getattr(s, metric) for s in m["faces"]])
              for m in models for metric in METRICS if any(getattr(s, metric) is not None for s in m["faces"])}
    paths["ced"] = out / "ced.png"
    ced_plot(curves, paths["ced"], title="CED on AFLW2000-3D (NME / sqrt(w h))")
    lines = ["# AFLW2000-3D", "", f"Photos: `{root}`", "",
             "PRN's protocol: 68-point NME (%) over sqrt(w h) of the true landmarks' box, by |yaw| of Pose_Para; "
             "3D after matching the landmarks' mean depth; dense against the fitted BFM mesh. Balanced: the mean "
             "of the three bins. First crops from the detector where it found the face, else from the true "
             "landmarks (PRN's crop).", "",
             "| model | metric | " + " | ".join(f"{b}° ({n})" for b, n in zip(next(iter(summaries.values()))["bins"],
                                                                       next(iter(summaries.values()))["per_bin"]))
             + " | balanced | all | detected |", "|---|---|---|---|---|---|---|---|"]
    for m in models:
        s = summaries[m["name"]]
        for metric in METRICS:
            if metric in s:
                lines.append(f"| {m['name']} | {metric[4:]} | " + " | ".join(_cell(v) for v in s[metric]["by_bin"])
                             + f" | {_cell(s[metric]['balanced'])} | {_cell(s[metric]['all'])} | "
                             f"{s['detected']}/{s['photos']} |")
    lines += ["", "![CED](ced.png)", ""]
    paths["markdown"] = Path(write_atomic(out / "report.md", "\n".join(lines)))
    return paths
