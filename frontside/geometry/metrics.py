"""The evaluation metric of thesis chapter 5: NME (eq. 5.1) and cumulative error distributions."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from frontside.geometry.bounds import bounds
from frontside.io import write_atomic
from frontside.pictures import figure_png


def bbox_size(points: np.ndarray) -> float:
    """The normaliser d of eq. 5.1: sqrt of the area of the points' x-y bounding box (as 3DDFA and PRN do)."""
    lo, hi = bounds(np.asarray(points)[:, :2])
    extent = hi - lo
    return float(np.sqrt(extent[0] * extent[1]))


def nme(prediction: np.ndarray, truth: np.ndarray, normaliser: float | None = None) -> float:
    """Eq. 5.1 with correspondence: mean ||p_i - q_i|| / d, d = bbox_size(prediction) unless given."""
    d = bbox_size(prediction) if normaliser is None else normaliser
    return float(np.linalg.norm(np.asarray(prediction, np.float64) - truth, axis=1).mean() / d)


def nme_to_surface(prediction: np.ndarray, truth_points: np.ndarray | cKDTree,
                   normaliser: float | None = None) -> float:
    """Eq. 5.1 without correspondence (scans): each predicted point's distance to its nearest truth point, over
    d = bbox_size(prediction) unless given (inf when the prediction has no extent)."""
    tree = truth_points if isinstance(truth_points, cKDTree) else cKDTree(np.asarray(truth_points, np.float64))
    d = bbox_size(prediction) if normaliser is None else normaliser
    if not d > 0:
        return float("inf")  # a prediction with no extent: the thesis's normaliser is 0
    return float(tree.query(np.asarray(prediction, np.float64))[0].mean() / d)


def ced(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of errors <= each threshold (the CED curve)."""
    e = np.sort(np.asarray(errors, np.float64))
    return np.searchsorted(e, np.asarray(thresholds), side="right") / max(len(e), 1)


def ced_plot(curves: dict[str, np.ndarray], path, max_error: float | None = None, title: str = "") -> None:
    """Write a PNG with one CED curve per name (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = [np.asarray(v)[np.isfinite(v)] for v in curves.values() if len(v)]
    top = max_error or (max(float(np.quantile(v, 0.98)) for v in finite if len(v)) * 1.1 if finite else 0.1)
    thresholds = np.linspace(0, top, 200)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, errors in curves.items():
        ax.plot(thresholds, ced(errors, thresholds) * 100, label=f"{name} (mean {np.mean(errors):.4f})")
    ax.set_xlabel("NME (normalised by bounding box)")
    ax.set_ylabel("faces (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "Cumulative error distribution")
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=110))
    plt.close(fig)
