"""Chapter 5's evaluation as plain functions: predict, posmap -> mesh, align (landmarks, then ICP), NME per face.

For synthetic shards the ground truth is the pair's own position map, so an exact NME (same frame, no
alignment) is reported beside the NME after ICP. Only face vertices count (the neck has loss weight 0).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from frontside.facemodel import MorphableModel, Region, load_model
from frontside.geometry.icp import apply_transform, icp, landmark_alignment
from frontside.geometry.metrics import bbox_size, nme, nme_to_surface
from frontside.geometry.posmap import sample_posmap
from frontside.io import write_atomic
from frontside.store.dataset import dataset_model
from frontside.store.manifest import list_shards
from frontside.store.records import Face
from frontside.store.shards import decode_row, read_shard


@dataclass(frozen=True)
class FaceScore:
    face_id: str
    nme_icp: float  # after landmark + ICP alignment, nearest-point distances
    nme_exact: float | None  # same frame, by correspondence (synthetic ground truth only)


@dataclass(frozen=True)
class ModelScores:
    name: str
    checkpoint: str | None
    arch: str | None
    faces: list[FaceScore]
    views: dict | None = None  # `diagnostics.view_diagnostics`: does the network use every view it is given?

    @property
    def icp_errors(self) -> np.ndarray:
        return np.array([f.nme_icp for f in self.faces])

    def summary(self) -> dict:
        e = self.icp_errors
        exact = [f.nme_exact for f in self.faces if f.nme_exact is not None]
        return {"name": self.name, "arch": self.arch, "checkpoint": self.checkpoint, "faces": len(e),
                "mean_nme": float(e.mean()) if len(e) else None,
                "median_nme": float(np.median(e)) if len(e) else None,
                "mean_nme_exact": float(np.mean(exact)) if exact else None,
                **({"views": self.views} if self.views else {})}

    def save(self, path: str | Path) -> Path:
        return Path(write_atomic(Path(path), json.dumps({"name": self.name, "checkpoint": self.checkpoint,
                                                          "arch": self.arch, "faces": [asdict(f) for f in self.faces],
                                                          "views": self.views}, indent=1)))

    @classmethod
    def load(cls, path: str | Path) -> ModelScores:
        body = json.loads(Path(path).read_text())
        return cls(body["name"], body["checkpoint"], body["arch"], [FaceScore(**f) for f in body["faces"]],
                   body.get("views"))


def face_vertex_mask(model: MorphableModel) -> np.ndarray:
    return np.asarray(model.regions) != Region.NECK


def face_triangles(model: MorphableModel) -> np.ndarray:
    """(T, 3) the model's triangles whose corners are all face vertices (no neck): the mesh people look at."""
    face = face_vertex_mask(model)
    return model.triangles[face[model.triangles].all(axis=1)]


def mean_face_in_image_frame(model: MorphableModel) -> np.ndarray:
    """(N, 3) float64: the model's mean shape with y flipped into the image frame's handedness (y down); where it
    sits is left to the alignment that places it."""
    return model.mean_face().vertices.astype(np.float64) * np.array([1.0, -1.0, 1.0])


def load_pairs(roots: list[str], max_faces: int | None = None, n_views: int | None = 2) -> list[Face]:
    """The faces of the datasets at `roots` in order (at most `max_faces`), their first `n_views` views (None:
    all; the front and first side by default)."""
    pairs: list[Face] = []
    for root in roots:
        for url, info in list_shards(root):
            table = read_shard(url, info)
            for i in range(table.num_rows):
                pairs.append(decode_row(table, i, n_views=n_views))
                if max_faces is not None and len(pairs) >= max_faces:
                    return pairs
    return pairs


def score_vertices(predicted: np.ndarray, truth: np.ndarray, landmarks: np.ndarray, face: np.ndarray,
                   exact: bool) -> tuple[float, float | None]:
    """(NME after landmark-initialised ICP, exact NME or None) for vertices in correspondence (N, 3).

    Alignment: the similarity (with scale) that best maps the 68 predicted landmarks onto the true ones, then
    rigid ICP, as thesis 2.9 describes it. NME after ICP is eq. 5.1 as the thesis defines it: each predicted
    point's distance to the true surface over the bounding-box size of the (aligned) prediction. That normaliser
    makes the score scale-invariant, which matters: divided by the truth's box instead, a prediction shrunk or
    collapsed onto a patch of the true surface scores ~0 (an untrained network's nearly constant output did).
    A prediction with no extent at all scores inf. The exact NME compares corresponding points in the shared
    frame, so it divides by the truth's box.
    """
    pred_face, truth_face = predicted[face], truth[face]
    start = landmark_alignment(predicted[landmarks], truth[landmarks], scale=True)
    tree = cKDTree(truth_face.astype(np.float64))
    result = icp(pred_face, tree, initial=start, max_iterations=30, scale=False, trim_fraction=0.05)
    aligned = apply_transform(pred_face, result.transform)
    exact_nme = nme(pred_face, truth_face, normaliser=bbox_size(truth_face)) if exact else None
    return nme_to_surface(aligned, tree), exact_nme


def evaluate_predictor(predictor, pairs: list[Face], model: MorphableModel, name: str,
                       checkpoint: str | None = None, batch_size: int = 8) -> ModelScores:
    """Scores of one trained network on synthetic pairs."""
    face = face_vertex_mask(model)
    scores: list[FaceScore] = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        posmaps = predictor.predict_batch([p.front for p in batch], [p.side for p in batch])
        for pair, posmap in zip(batch, posmaps):
            predicted = sample_posmap(posmap, model.uv)
            truth = sample_posmap(pair.posmap, model.uv)
            icp_nme, exact = score_vertices(predicted, truth, model.landmarks, face, exact=True)
            scores.append(FaceScore(pair.meta.face_id, icp_nme, exact))
    return ModelScores(name, checkpoint, predictor.arch, scores)


def score_posmaps(posmaps: np.ndarray, faces: list[Face], model: MorphableModel) -> np.ndarray:
    """(N,) NME after landmark + ICP alignment of predicted posmaps (N, S, S, 3) against the faces' own."""
    face = face_vertex_mask(model)
    return np.array([score_vertices(sample_posmap(p, model.uv), sample_posmap(f.posmap, model.uv), model.landmarks,
                                    face, exact=False)[0] for p, f in zip(posmaps, faces)])


def evaluate_mean_face(pairs: list[Face], model: MorphableModel) -> ModelScores:
    """The "no learning" baseline: the model's mean shape, placed by a landmark similarity, then rigid ICP."""
    face = face_vertex_mask(model)
    mean = mean_face_in_image_frame(model)
    scores = []
    for pair in pairs:
        truth = sample_posmap(pair.posmap, model.uv)
        icp_nme, _ = score_vertices(mean, truth, model.landmarks, face, exact=False)
        scores.append(FaceScore(pair.meta.face_id, icp_nme, None))
    return ModelScores("mean face", None, None, scores)


def checkpoint_face_model(checkpoint: str) -> MorphableModel:
    """The face model a network was trained with (its training data's manifest), the built-in one otherwise (an
    ensemble's: its first network's)."""
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.ensemble import checkpoint_members

    data = load_checkpoint(checkpoint_members(checkpoint)[0])["config"].get("data") or []
    for root in data:
        try:
            return dataset_model(root)
        except Exception:  # the training data may live elsewhere now
            continue
    return load_model("builtin")


def _centre_and_scale(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) similarity matching centroids and x-y box sizes: ICP's start when no landmarks exist (scans)."""
    s = bbox_size(target) / max(bbox_size(source), 1e-9)
    m = np.eye(4)
    m[:3, :3] *= s
    m[:3, 3] = target.mean(axis=0) - s * source.mean(axis=0)
    return m


def score_against_scan(predicted_face: np.ndarray, scan_points: np.ndarray, initial: np.ndarray) -> float:
    """NME of a predicted face against a scan after rigid ICP from `initial`, normalised by the aligned
    prediction's box (eq. 5.1; see `score_vertices`)."""
    tree = cKDTree(np.asarray(scan_points, np.float64))
    result = icp(predicted_face, tree, initial=initial, max_iterations=40, scale=False, trim_fraction=0.1)
    return nme_to_surface(apply_transform(predicted_face, result.transform), tree)


def evaluate_predictor_on_scans(predictor, views, model: MorphableModel, name: str,
                                checkpoint: str | None = None) -> ModelScores:
    """Scores on rendered scans (Florence): prediction and scan share the front crop's frame, so rigid ICP
    starts at the identity; NME is point-to-scan after ICP."""
    face = face_vertex_mask(model)
    scores = []
    for view in views:
        posmap = predictor.predict(view.front, view.side)
        predicted = sample_posmap(posmap, model.uv)[face].astype(np.float64)
        scores.append(FaceScore(view.subject, score_against_scan(predicted, view.scan_points, np.eye(4)), None))
    return ModelScores(name, checkpoint, predictor.arch, scores)


def evaluate_mean_face_on_scans(views, model: MorphableModel) -> ModelScores:
    face = face_vertex_mask(model)
    mean = mean_face_in_image_frame(model)[face]
    scores = [FaceScore(v.subject, score_against_scan(mean, v.scan_points, _centre_and_scale(mean, v.scan_points)),
                        None) for v in views]
    return ModelScores("mean face", None, None, scores)
