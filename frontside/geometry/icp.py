"""Rigid (optionally scaled) ICP (thesis 2.9): KD-tree correspondences and a closed-form SVD fit at each step.

Point-to-point ICP (Besl & McKay 1992) with Umeyama's least-squares similarity for each step. The cost is in the
KD-tree queries; three things cut their number and size:

* coarse to fine: nested random subsets of the source (`coarse_points`, 4x that, ...) converge first and the whole
  source polishes. Every level draws on the one `max_iterations` budget: `iterations` counts every
  correspondence-and-fit step at any resolution;
* extrapolation, after Besl & McKay's accelerated ICP: when the transform's last updates keep to one direction,
  a parabola through the errors at the last three steps predicts where the error is least along that direction
  and the transform jumps there. A jump that ends worse than the plain step would have is undone;
* stopping without a wasted query: at convergence the transform returned is the one last measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

_LEVEL_GROWTH = 4  # each coarse-to-fine level has this many times the points of the one before
_MAX_TURN = float(np.cos(np.radians(20.0)))  # jump only while the last updates are within 20 degrees ...
_MAX_LEAP = 100.0  # ... and at most this many times the plain step


@dataclass(frozen=True)
class ICPResult:
    """transform: (4, 4) mapping source points onto the target; error: mean distance from every transformed
    source point to its nearest target point; iterations: correspondence-and-fit steps, all levels together."""

    transform: np.ndarray
    error: float
    iterations: int
    converged: bool


def best_fit_transform(source: np.ndarray, target: np.ndarray, scale: bool = False,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """(4, 4) least-squares similarity (Umeyama; rigid when scale=False) taking source (N, 3) onto target (N, 3).
    A source with no spread (all one point, as an untrained network may predict) has no scale to find: it keeps 1."""
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
    spread = float(w @ (s_c ** 2).sum(axis=1)) if scale else 0.0
    rounding = (1e-12 * max(1.0, float(np.abs(mu_s).max()))) ** 2  # what identical points' spread rounds to
    s = float((sigma * d).sum() / spread) if spread > rounding else 1.0
    m = np.eye(4)
    m[:3, :3] = s * rotation
    m[:3, 3] = mu_d - s * rotation @ mu_s
    return m


def landmark_alignment(source_points: np.ndarray, target_points: np.ndarray, scale: bool = True) -> np.ndarray:
    """(4, 4) similarity from corresponding landmarks (e.g. the 68), to start ICP near the answer."""
    return best_fit_transform(source_points, target_points, scale=scale)


def apply_transform(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ transform[:3, :3].T + transform[:3, 3]


def icp(source: np.ndarray, target: np.ndarray | cKDTree, initial: np.ndarray | None = None,
        max_iterations: int = 50, tolerance: float = 1e-7, scale: bool = False, max_distance: float | None = None,
        trim_fraction: float = 0.0, coarse_points: int | None = 2000, coarse_tolerance: float = 1e-4,
        fine_iterations: int = 5, accelerate: bool = True, workers: int = -1,
        reject_distance: float | None = None) -> ICPResult:
    """Align source (N, 3) to target (M, 3), or to a prebuilt cKDTree over it (build it once for many sources).

    A level stops when its mean distance changes by less than `tolerance` (relative) or when it reaches its
    share of `max_iterations`. Pairs farther than `max_distance` (`reject_distance` is its former name), and
    then the worst `trim_fraction` of pairs, are left out of each fit.

    Coarse to fine: with more than 2 * `coarse_points` source points, random subsets of `coarse_points`, 4x that,
    ... (each under half the source) converge first, to `tolerance` or `coarse_tolerance`, whichever is looser;
    a level leaves 2 iterations for each finer one, and the finer levels take at most `fine_iterations` each.
    `coarse_points=None` aligns at full resolution only. `accelerate=False` turns off the extrapolation.
    `workers` is cKDTree.query's (-1: every core). A tree built here is a sliding-midpoint one
    (balanced_tree=False): it builds in about 60% of the time and answers these queries as fast.
    """
    if reject_distance is not None:
        if max_distance is not None:
            raise ValueError("give max_distance or reject_distance (its former name), not both")
        max_distance = reject_distance
    if not 0.0 <= trim_fraction < 1.0:
        raise ValueError(f"trim_fraction must be in [0, 1), got {trim_fraction}")
    tree = target if isinstance(target, cKDTree) else cKDTree(np.asarray(target, np.float64), balanced_tree=False)
    src = np.ascontiguousarray(source, dtype=np.float64)
    transform = np.eye(4) if initial is None else np.array(initial, np.float64)
    sizes = []  # subset sizes, coarse to fine; the last is the whole source
    if coarse_points:
        while 2 * coarse_points * _LEVEL_GROWTH ** len(sizes) < len(src):
            sizes.append(coarse_points * _LEVEL_GROWTH ** len(sizes))
    sizes.append(len(src))
    order = np.random.default_rng(0).permutation(len(src)) if len(sizes) > 1 else None
    used, converged, distances = 0, False, None
    for level, size in enumerate(sizes):
        finer = len(sizes) - 1 - level
        budget = max_iterations - used - 2 * finer
        if level > 0:
            budget = min(budget, fine_iterations)
        if budget < 1:
            continue
        points = src if finer == 0 else src[np.sort(order[:size])]
        level_tolerance = tolerance if finer == 0 else max(tolerance, coarse_tolerance)
        transform, steps, converged, distances = _align(points, tree, transform, budget, level_tolerance, scale,
                                                        max_distance, trim_fraction, accelerate, workers)
        used += steps
    if distances is None or len(distances) != len(src):  # not yet measured at this transform
        distances, _ = tree.query(apply_transform(src, transform), workers=workers)
    return ICPResult(transform=transform, error=float(distances.mean()), iterations=used, converged=converged)


def _keep(distances: np.ndarray, max_distance: float | None, trim_fraction: float) -> np.ndarray | None:
    """Mask of the pairs a fit uses (None: all of them)."""
    keep = None
    if max_distance is not None:
        keep = distances <= max_distance
    if trim_fraction > 0:
        kept = distances if keep is None else distances[keep]
        if len(kept):
            worst = np.quantile(kept, 1.0 - trim_fraction)
            keep = distances <= worst if keep is None else keep & (distances <= worst)
    return keep


def _align(points, tree, start, budget, tolerance, scale, max_distance, trim_fraction, accelerate, workers):
    """ICP on one level: (transform, steps taken, converged, distances of all points at that transform or None)."""
    target = tree.data
    base = apply_transform(points, start)
    transform = np.eye(4)  # from `base`: the change since the level's start
    if accelerate:
        center = base.mean(axis=0)
        radius = float(np.sqrt(((base - center) ** 2).sum(axis=1).mean())) or 1.0
    path: list[tuple[np.ndarray, float]] = []  # (parameters, mean squared error) at each query since a jump
    trial = None  # (the plain step's transform, a bound on its mean squared error) while a jump is on trial
    previous, steps = np.inf, 0
    while steps < budget:
        steps += 1
        moved = apply_transform(base, transform)
        distances, index = tree.query(moved, workers=workers)
        keep = _keep(distances, max_distance, trim_fraction)
        kept = distances if keep is None else distances[keep]
        if len(kept) < 3:
            return transform @ start, steps, False, distances
        error, mse = float(kept.mean()), float(kept @ kept) / len(kept)
        if trial is not None:
            plain, bound = trial
            trial = None
            if mse > bound:  # worse than the plain step is known to be: take that instead
                transform, path = plain, []
                continue
        if abs(previous - error) <= tolerance * error:
            return transform @ start, steps, True, distances  # the transform just measured: no query to re-measure
        previous = error
        a = moved if keep is None else moved[keep]
        b = target[index if keep is None else index[keep]]
        step = best_fit_transform(a, b, scale=scale)
        plain = step @ transform
        if accelerate and steps < budget and min(np.linalg.det(transform[:3, :3]), np.linalg.det(plain[:3, :3])) > 0:
            path.append((_params(transform, center, radius), mse))
            jump = _jump(path, _params(plain, center, radius)) if len(path) >= 3 else None
            if jump is not None:
                fitted = apply_transform(a, step)
                trial = (plain, float(((fitted - b) ** 2).sum(axis=1).mean()))
                plain, path = _from_params(jump, center, radius), []
        transform = plain
    return transform @ start, steps, False, None


def _params(transform: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """7 numbers in length units to extrapolate in: rotation vector * radius, where the centre goes,
    log scale * radius."""
    m = transform[:3, :3]
    s = float(np.cbrt(np.linalg.det(m)))
    return np.concatenate([_rotation_vector(m / s) * radius, m @ center + transform[:3, 3], [np.log(s) * radius]])


def _from_params(p: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    m = np.exp(p[6] / radius) * _rotation_matrix(p[:3] / radius)
    out = np.eye(4)
    out[:3, :3] = m
    out[:3, 3] = p[3:6] - m @ center
    return out


def _rotation_vector(r: np.ndarray) -> np.ndarray:
    """Axis * angle of a rotation matrix."""
    v = 0.5 * np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])  # axis * sin(angle)
    sin, cos = float(np.linalg.norm(v)), 0.5 * (float(np.trace(r)) - 1.0)
    if cos < -0.9:  # near a half turn the axis is better found another way
        return Rotation.from_matrix(r).as_rotvec()
    return v * (np.arctan2(sin, cos) / sin) if sin > 1e-300 else v


def _rotation_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula."""
    angle = float(np.linalg.norm(rotvec))
    x, y, z = rotvec / angle if angle > 0 else rotvec
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _jump(path: list[tuple[np.ndarray, float]], ahead: np.ndarray) -> np.ndarray | None:
    """Where to jump, or None. path: the last three measured states (parameters, mean squared error); ahead: the
    parameters after the plain step from the last of them. Along the (nearly straight) path, a parabola through
    the three errors; its minimum, at most _MAX_LEAP plain steps ahead, in the plain step's direction."""
    (p0, e0), (p1, e1), (p2, e2) = path[-3:]
    d0, d1, d2 = p1 - p0, p2 - p1, ahead - p2
    n0, n1, n2 = (float(np.linalg.norm(d)) for d in (d0, d1, d2))
    if min(n0, n1, n2) == 0 or d1 @ d0 < _MAX_TURN * n1 * n0 or d2 @ d1 < _MAX_TURN * n2 * n1:
        return None
    slope0, slope1 = (e1 - e0) / n0, (e2 - e1) / n1  # at the middles of the two segments
    curvature = (slope1 - slope0) / (0.5 * (n0 + n1))  # the error's second derivative along the path
    gradient = slope1 + 0.5 * curvature * n1  # ... and its first, at p2
    if gradient >= 0:
        return None
    reach = _MAX_LEAP * n2 if curvature <= 0 else min(-gradient / curvature, _MAX_LEAP * n2)
    return p2 + d2 * (reach / n2) if reach > n2 else None
