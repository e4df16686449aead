"""Does a multi-view network use every view it is given? Two diagnostics every multi-view report carries.

* Side-shuffle: the NME with each face's own side photos against the NME with another face's side photos in their
  place (a fixed derangement: face i gets the views of face i + 1). A network that uses its side view gets worse
  when given someone else's; one that ignores it does not move.
* Per-component R²: how much of each face-model component's variance on held-out faces the network's coefficients
  explain (`component_r2`: its coefficients against the true ones, in the same units, the face model's standard
  deviations), for the components that move the surface most (`surface_effect`), named
  (`MorphableModel.component_names`). Head depth, the component a profile shows and a front view hardly does, is
  the one to watch. Each R² comes with a 90% bootstrap interval over the faces (`component_r2_interval`): on the
  benchmark's 48 held-out faces head depth's is about 0.4 wide (0.38 [0.13, 0.55]), on 480 about 0.1.
* The landmarks' ceiling of each R² (`landmark_r2_ceiling`): what a perfect reader of the 68 landmarks, in 3D and
  off by a little noise, could reach at best. A network whose views meet through landmarks (`multiview`) is held
  below it by its landmarks' precision; a component whose ceiling is low is, to the landmarks, mostly another
  camera or other components (head depth in the built-in model), and only pixels beyond them can tell it.
* The face model's weak directions (`weak_directions`): the combinations of components that the landmarks (or the
  whole face) show least beyond a similarity. No photo tells a face's size, so a component with a large weight in a
  direction that is nearly a similarity has an R² no network can reach (`WeakDirection.r2_ceiling`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frontside.facemodel.model import MorphableModel, Region
from frontside.geometry.transforms import similarity_directions
from frontside.store.records import Face


def derangement(n: int) -> np.ndarray:
    """(n,) int: face i takes the side views of face (i + 1) mod n (no face keeps its own when n > 1)."""
    return (np.arange(n) + 1) % max(n, 1)


def relative_change(own: float, other: float) -> float:
    """(other - own) / own: how much worse (positive) another face's views make the score."""
    return float((other - own) / own) if own > 0 else float("nan")


def face_vertices(model: MorphableModel) -> np.ndarray:
    """(P,) int: the indices of the face's vertices, every one but the neck's."""
    return np.flatnonzero(model.regions != int(Region.NECK))


def displacements(model: MorphableModel, vertices: np.ndarray) -> np.ndarray:
    """(P, 3, K + E) float64: how one standard deviation of each identity then expression component moves the P
    `vertices` (indices), in the model's units."""
    idx = np.asarray(vertices)
    return np.concatenate([basis.reshape(model.n_vertices, 3, -1)[idx] * np.asarray(std, np.float64)
                           for basis, std in ((model.id_basis, model.id_std), (model.exp_basis, model.exp_std))], 2)


def surface_effect(model: MorphableModel) -> np.ndarray:
    """(K + E,) float64: the RMS displacement over the face's vertices (not the neck) of one standard deviation of
    each identity then expression component, in the model's units (mm for the built-in model)."""
    return np.sqrt((displacements(model, face_vertices(model)) ** 2).sum(axis=1).mean(axis=0))


def landmark_r2_ceiling(model: MorphableModel, noise: float = 0.02) -> np.ndarray:
    """(K + E,) float64: each identity then expression component's highest held-out R² from the 68 landmarks in 3D,
    each coordinate off by Gaussian noise of `noise` x the outer-eye-corner distance (landmarks 36 and 45): 1 minus
    its posterior variance under the prior N(0, 1) (coefficients in the model's standard deviations), a similarity
    free (every NME aligns one away). The Bayes optimum of any fit: no reader of landmarks this precise beats it on
    average."""
    if noise <= 0:
        raise ValueError(f"noise must be > 0, not {noise}")
    idx = np.asarray(model.landmarks)
    mean = np.asarray(model.mean, np.float64)[idx]
    seen = beyond_similarity(model, idx) / (noise * np.linalg.norm(mean[45] - mean[36]))
    return 1.0 - np.diag(np.linalg.inv(seen.T @ seen + np.eye(seen.shape[1])))


def beyond_similarity(model: MorphableModel, vertices: np.ndarray) -> np.ndarray:
    """(3P, K + E) float64: how one standard deviation of each identity then expression component moves the P
    `vertices` (indices), in the model's units, less what a similarity of the mean's vertices reproduces (every NME
    aligns one away; no photo tells a face's size)."""
    idx = np.asarray(vertices)
    mean = np.asarray(model.mean, np.float64)[idx]
    jacobian = displacements(model, idx).reshape(len(idx) * 3, -1)
    q, _ = np.linalg.qr(similarity_directions(mean - mean.mean(0)))
    return jacobian - q @ (q.T @ jacobian)


@dataclass(frozen=True)
class WeakDirection:
    """A combination of the face model's components that moves some points little beyond a similarity.

    rms: the points' RMS displacement (model units: mm for the built-in model) for one standard deviation along it,
        what no similarity reproduces; weights (K + E,): the combination, unit length in the components' standard
        deviations (identity then expression); names: the components' names in that order."""

    rms: float
    weights: np.ndarray
    names: list[str]

    def largest(self, count: int = 3) -> list[tuple[str, float]]:
        """[(name, weight)] of the `count` components with the largest weights, largest first."""
        return [(self.names[k], float(self.weights[k])) for k in np.argsort(-np.abs(self.weights))[:count]]

    def r2_ceiling(self) -> np.ndarray:
        """(K + E,): each component's highest R² if this direction is not seen at all and everything else exactly:
        1 - weight^2 (under the prior N(0, 1), its best guess along the direction is 0)."""
        return 1.0 - self.weights ** 2


def weak_directions(model: MorphableModel, points: str = "landmarks", count: int = 5) -> list[WeakDirection]:
    """The `count` combinations of components that `points` ("landmarks": the 68; "face": every vertex but the
    neck's) show least beyond a similarity, weakest first (the smallest singular directions of
    `beyond_similarity`). A component with a large weight in a direction of rms ~0 cannot be read from those points
    by any network: its R² is held at `WeakDirection.r2_ceiling` (the built-in model: brow height and brow raise are
    one deformation; on the landmarks, head depth is face width and face height and a similarity to 0.05 mm)."""
    if points == "landmarks":
        idx = np.asarray(model.landmarks)
    elif points == "face":
        idx = face_vertices(model)
    else:
        raise ValueError(f"points must be 'landmarks' or 'face', not {points!r}")
    _, s, vt = np.linalg.svd(beyond_similarity(model, idx), full_matrices=False)
    identity, expression = model.component_names()
    names = list(identity) + list(expression)
    return [WeakDirection(float(s[-j] / np.sqrt(len(idx))), vt[-j].copy(), names)
            for j in range(1, min(count, len(s)) + 1)]


def component_r2(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(C,) R² of predicted coefficients (N, C) against the true ones (N, C), same units: 1 - MSE / the truth's
    variance over the faces; 0 is answering the held-out mean, negative is worse than that."""
    predicted, true = np.asarray(predicted, np.float64), np.asarray(true, np.float64)
    if predicted.shape != true.shape or predicted.ndim != 2:
        raise ValueError(f"predicted {predicted.shape} and true {true.shape} must both be (N, C)")
    return 1.0 - ((predicted - true) ** 2).mean(axis=0) / np.maximum(true.var(axis=0), 1e-12)


def component_r2_interval(predicted: np.ndarray, true: np.ndarray, level: float = 0.9, draws: int = 1000,
                          seed: int = 0) -> np.ndarray:
    """(2, C) float64: the lower and upper ends of each component's R² (`component_r2`) over `draws` bootstrap
    resamplings of the N faces (the percentile interval holding `level` of them; seeded, so the same faces give the
    same interval). How far a number from a few held-out faces can be trusted: a component's spread among 48 faces
    is itself uncertain, and the R² with it."""
    predicted, true = np.asarray(predicted, np.float64), np.asarray(true, np.float64)
    if predicted.shape != true.shape or predicted.ndim != 2:
        raise ValueError(f"predicted {predicted.shape} and true {true.shape} must both be (N, C)")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level}")
    picks = np.random.default_rng(seed).integers(0, len(true), (draws, len(true)))
    r2 = np.empty((draws, true.shape[1]))
    for start in range(0, draws, 100):  # (100, N, C) at a time
        p, t = predicted[picks[start:start + 100]], true[picks[start:start + 100]]
        r2[start:start + 100] = 1.0 - ((p - t) ** 2).mean(axis=1) / np.maximum(t.var(axis=1), 1e-12)
    return np.quantile(r2, [(1 - level) / 2, (1 + level) / 2], axis=0)


@dataclass(frozen=True)
class ComponentR2:
    """R² per named component and condition ("1 view", "2 views", "2 views, another face's side", ...), the
    components ranked by `surface_effect`."""

    names: list[str]
    effect: list[float]
    r2: dict[str, list[float]]  # condition -> (C,) in `names` order
    ceiling: list[float] | None = None  # `landmark_r2_ceiling` at its default noise, in `names` order
    interval: dict[str, list[list[float]]] | None = None  # condition -> [lower (C,), upper (C,)], 90% bootstrap

    @classmethod
    def of(cls, model: MorphableModel, basis_names: list[str] | tuple[str, ...], true: np.ndarray,
           predicted: dict[str, np.ndarray], largest: int = 10) -> ComponentR2:
        """The `largest` components by surface effect among a network's (`basis_names`: "identity-k",
        "expression-k", the order of its coefficients); `true` (N, K) and each `predicted[condition]` alike."""
        identity, expression = model.component_names()
        effect_all, ceiling_all = surface_effect(model), landmark_r2_ceiling(model)
        names, effect, ceiling = [], [], []
        for name in basis_names:
            kind, k = name.rsplit("-", 1)
            k = int(k) if kind == "identity" else model.n_identity + int(k)
            names.append(f"{(identity + expression)[k]} ({name})")
            effect.append(effect_all[k])
            ceiling.append(ceiling_all[k])
        keep = [int(k) for k in np.argsort(-np.asarray(effect))[:largest]]
        return cls([names[k] for k in keep], [float(effect[k]) for k in keep],
                   {c: [float(v) for v in component_r2(p, true)[keep]] for c, p in predicted.items()},
                   [float(ceiling[k]) for k in keep],
                   {c: component_r2_interval(p[:, keep], true[:, keep]).tolist() for c, p in predicted.items()})

    def as_dict(self) -> dict:
        return {"names": self.names, "effect": self.effect, "r2": self.r2, "landmark_ceiling": self.ceiling,
                "r2_interval": self.interval}

    def markdown(self) -> str:
        """A table: component, its effect, R² per condition (with its 90% interval in brackets, when known), the
        landmarks' ceiling (when known)."""
        conditions = list(self.r2)
        ceiling = " | landmarks' ceiling" if self.ceiling else ""
        lines = ["| component | 1 SD moves the face by | " + " | ".join(conditions) + ceiling + " |",
                 "|---|---|" + "---|" * (len(conditions) + bool(self.ceiling))]

        def cell(c: str, i: int) -> str:
            ends = (self.interval or {}).get(c)
            return f"{self.r2[c][i]:.2f}" + (f" [{ends[0][i]:.2f}, {ends[1][i]:.2f}]" if ends else "")

        for i, name in enumerate(self.names):
            lines.append(f"| {name} | {self.effect[i]:.2f} | "
                         + " | ".join(cell(c, i) for c in conditions)
                         + (f" | {self.ceiling[i]:.2f}" if self.ceiling else "") + " |")
        return "\n".join(lines)


# the conditions a report names, in order
FRONT, SIDE, TWO, SHUFFLED, THREE = ("front", "side only", "front + side", "front + another face's side",
                                     "front + 2 sides")


def view_diagnostics(predictor, faces: list[Face], model: MorphableModel, own_nme: np.ndarray,
                     batch_size: int = 8, largest: int = 10) -> dict | None:
    """Whether a network uses every view it is given, on held-out faces (each with its posmap, views and, for R²,
    its true coefficients), as a report prints it:

    side_shuffle: {"own", "other", "change"}: mean NME after ICP with each face's own side photo (own_nme, the
        evaluation's scores) and with another face's (`derangement`), for networks that read a side photo;
    nme_by_views: {condition: mean NME} for a multi-view network given the front only, and (faces with three views)
        the front and both sides;
    component_r2: `ComponentR2.as_dict()` for every condition the network answers coefficients in (front-only,
        two-view, multi-view networks), on the faces whose rows carry coefficients (at least 3).
    None for a network that reads neither a side photo nor answers coefficients (thesis networks, PRN, front-only
    thesis networks)."""
    from frontside.evaluation.evaluate import score_posmaps

    arch = predictor.views
    n = len(faces)
    order = derangement(n)
    conditions: dict[str, tuple[list[list[np.ndarray]], np.ndarray | None]] = {}
    if arch == "front":
        conditions[FRONT] = ([[f.front] for f in faces], None)
    else:
        conditions[TWO] = ([[f.front, f.side] for f in faces], None)
        conditions[SHUFFLED] = ([[f.front, faces[j].side] for f, j in zip(faces, order)], None)
    if arch == "any":
        conditions[FRONT] = ([[f.front] for f in faces], None)
        conditions[SIDE] = ([[f.front, f.side] for f in faces], np.tile([False, True], (n, 1)))
        if all(len(f.views) >= 3 for f in faces):
            conditions[THREE] = ([[v.image for v in f.views[:3]] for f in faces], None)
    # each batch's position maps are scored as they come and dropped: memory stays one batch of them, whatever the
    # number of faces (kept whole, 480 faces x 5 conditions of 256-px maps were ~2 GB a network)
    scored = ({SHUFFLED} if arch != "front" and n > 1 else set()) | ({FRONT, THREE} if arch == "any" else set())
    nmes, coefficients = {}, {}
    for name, (views, present) in conditions.items():
        out_n, out_c = [], []
        for start in range(0, n, batch_size):
            p, c = predictor.predict_views(views[start:start + batch_size],
                                           None if present is None else present[start:start + batch_size])
            if name in scored:
                out_n.append(score_posmaps(p, faces[start:start + batch_size], model))
            out_c.append(c)
            del p  # before the next batch is predicted
        if out_n:
            nmes[name] = np.concatenate(out_n)
        coefficients[name] = None if out_c[0] is None else np.concatenate(out_c)
    result: dict = {"faces": n}
    if SHUFFLED in nmes:
        other = nmes[SHUFFLED]
        result["side_shuffle"] = {"own": float(np.mean(own_nme)), "other": float(np.mean(other)),
                                  "change": relative_change(float(np.mean(own_nme)), float(np.mean(other)))}
    if arch == "any":
        result["nme_by_views"] = {name: float(np.mean(own_nme)) if name == TWO else float(np.mean(nmes[name]))
                                  for name in (FRONT, TWO, THREE) if name in conditions}
    known = [i for i, f in enumerate(faces) if f.coefficients is not None]
    if coefficients.get(FRONT if arch == "front" else TWO) is not None and len(known) >= 3:
        from frontside.facemodel.uv_basis import basis_coefficients

        names = predictor.basis.names
        true = np.stack([basis_coefficients(predictor.basis, faces[i].coefficients.identity,
                                            faces[i].coefficients.expression) for i in known])
        ordered = [c for c in (FRONT, SIDE, TWO, SHUFFLED, THREE) if coefficients.get(c) is not None]
        r2 = ComponentR2.of(model, names, true, {c: coefficients[c][known] for c in ordered}, largest)
        result["component_r2"] = r2.as_dict()
    return result if len(result) > 1 else None


def markdown(name: str, diagnostics: dict, picture: str | None = None) -> list[str]:
    """Report lines: the side-shuffle score, NME by views given, the R² table (and `picture`, a landmarks picture
    beside the report, when given)."""
    lines = [f"### {name}: does it use every view?", ""]
    shuffle = diagnostics.get("side_shuffle")
    if shuffle:
        lines.append(f"Side-shuffle: NME {shuffle['own']:.5f} with each face's own side photo, {shuffle['other']:.5f}"
                     f" with another face's: **{100 * shuffle['change']:+.1f}%** (a network that ignores its side "
                     "photo scores +0%).")
    by_views = diagnostics.get("nme_by_views")
    if by_views:
        lines.append("NME by the photos given: " + ", ".join(f"{k} {v:.5f}" for k, v in by_views.items()) + ".")
    r2 = diagnostics.get("component_r2")
    if r2:
        spread = "; in brackets the 90% interval over resamplings of the faces" if r2.get("r2_interval") else ""
        lines += ["", f"Held-out R² of the face model's largest components ({diagnostics['faces']} faces; 1 is "
                  f"exact, 0 the held-out mean{spread}):", "",
                  ComponentR2(r2["names"], r2["effect"], r2["r2"], r2.get("landmark_ceiling"),
                              r2.get("r2_interval")).markdown()]
        if r2.get("landmark_ceiling"):
            lines += ["", "The landmarks' ceiling: the best R² any reader of the 68 landmarks could reach, in 3D and "
                      "off by 2% of the outer-eye-corner distance (`landmark_r2_ceiling`); a view-fitting network is "
                      "held below it by its landmarks, and only pixels beyond them can pass it."]
    if picture:
        lines += ["", f"Every view's landmarks, the row's and the network's: ![landmarks]({picture})"]
    return lines + [""]


def landmarks_picture(predictor, faces: list[Face], path, count: int = 3) -> None:
    """A PNG of the first `count` faces, every view (front, then sides) as the multi-view network reads it, with the
    row's visible landmarks (green) and the network's answer in that view (red): where a person looks first when a
    multi-view network's views do not help (its landmarks are what joins them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from frontside.io import write_atomic
    from frontside.learning.network_io import network_input
    from frontside.pictures import figure_png

    faces = [f for f in faces if all(v.labels is not None for v in f.views)][:count]
    if not faces:
        return
    views = max(len(f.views) for f in faces)
    fig, axes = plt.subplots(len(faces), views, figsize=(2.4 * views, 2.4 * len(faces)), squeeze=False)
    for row, face in enumerate(faces):
        batch = torch.cat([network_input(v.image, None, "front", predictor.input_size) for v in face.views])[None]
        with torch.no_grad():
            _, details = predictor.network(batch.to(predictor.device), details=True)
        predicted = details["landmarks"][0].float().cpu().numpy() * (face.size / predictor.size)
        for k in range(views):
            ax = axes[row][k]
            ax.axis("off")
            if k >= len(face.views):
                continue
            view = face.views[k]
            seen = view.labels.visible
            ax.imshow(view.image)
            ax.scatter(*view.labels.landmarks[seen, :2].T, s=3, c="lime")
            ax.scatter(*predicted[k][seen].T, s=3, c="red")
            error = np.linalg.norm(predicted[k][seen] - view.labels.landmarks[seen, :2], axis=1).mean()
            ax.set_title(f"{view.kind}: {error:.1f} px", fontsize=8)
    fig.suptitle("landmarks: row's (green), network's (red), mean error over the visible ones", fontsize=9)
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=90))
    plt.close(fig)

