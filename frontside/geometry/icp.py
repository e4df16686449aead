"""Rigid (optionally scaled) ICP (thesis 2.9) with a KD-tree and a closed-form SVD fit at each step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class ICPResult:
    """transform: (4, 4) mapping source points onto the target; error: mean distance of the kept pairs at the end."""

    transform: np.ndarray
    error: float
    iterations: int
    converged: bool


def best_fit_transform(source: np.ndarray, target: np.ndarray, scale: bool = False,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """(4, 4) least-squares similarity (Umeyama; rigid when scale=False) taking source (N, 3) onto target (N, 3)."""
    src = np.asarray(source, np.float64)
    dst = np.asarray(target, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    s_c, d_c = src - mu_s, dst - mu_d
    cov = (d_c * w[:, None]).T @ s_c
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection is not a rotation
        d[2] = -1
    rotation = u @ np.diag(d) @ vt
    s = float((sigma * d).sum() / (w @ (s_c ** 2).sum(axis=1))) if scale else 1.0
    m = np.eye(4)
    m[:3, :3] = s * rotation
    m[:3, 3] = mu_d - s * rotation @ mu_s
    return m


def landmark_alignment(source_points: np.ndarray, target_points: np.ndarray, scale: bool = True) -> np.ndarray:
    """(4, 4) similarity from corresponding landmarks (e.g. the 68), to start ICP near the answer."""
    return best_fit_transform(source_points, target_points, scale=scale)


def apply_transform(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ transform[:3, :3].T + transform[:3, 3]


def icp(source: np.ndarray, target: np.ndarray | cKDTree, initial: np.ndarray | None = None, max_iterations: int = 50,
        tolerance: float = 1e-7, scale: bool = False, reject_distance: float | None = None,
        trim_fraction: float = 0.0, coarse_points: int | None = 4000, fine_iterations: int = 5,
        workers: int = -1) -> ICPResult:
    """Align source (N, 3) to target (M, 3) (or a prebuilt cKDTree over it).

    Stops when the mean distance changes by less than `tolerance` (relative) or after `max_iterations`.
    Pairs farther than `reject_distance`, and the worst `trim_fraction` of pairs, are left out of each fit.
    Coarse to fine: with more than `coarse_points` source points, a fixed random subset of that size converges
    first, and the full set refines for at most `fine_iterations`; most iterations then cost a tenth.
    `workers` is cKDTree's.
    """
    tree = target if isinstance(target, cKDTree) else cKDTree(np.asarray(target, np.float64))
    transform = np.eye(4) if initial is None else np.asarray(initial, np.float64).copy()
    src = np.asarray(source, np.float64)
    if coarse_points is not None and len(src) > 2 * coarse_points:
        subset = np.random.default_rng(0).choice(len(src), coarse_points, replace=False)
        coarse = _iterate(src[subset], tree, transform, max_iterations, tolerance, scale, reject_distance,
                          trim_fraction, workers)
        transform = coarse[0]
        max_iterations = fine_iterations
    transform, error, iteration, converged = _iterate(src, tree, transform, max_iterations, tolerance, scale,
                                                      reject_distance, trim_fraction, workers)
    final, _ = tree.query(apply_transform(src, transform), workers=workers)
    return ICPResult(transform=transform, error=float(final.mean()), iterations=iteration, converged=converged)


def _iterate(src, tree, transform, max_iterations, tolerance, scale, reject_distance, trim_fraction, workers):
    target_points = tree.data
    previous = np.inf
    error, converged, iteration = np.inf, False, 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 (reported after the loop)
        moved = apply_transform(src, transform)
        distances, index = tree.query(moved, workers=workers)
        keep = np.ones(len(src), bool)
        if reject_distance is not None:
            keep &= distances <= reject_distance
        if trim_fraction > 0:
            keep &= distances <= np.quantile(distances, 1.0 - trim_fraction)
        if keep.sum() < 3:
            break
        error = float(distances[keep].mean())
        step = best_fit_transform(moved[keep], target_points[index[keep]], scale=scale)
        transform = step @ transform
        if abs(previous - error) <= tolerance * max(error, 1e-12):
            converged = True
            break
        previous = error
    return transform, error, iteration, converged
