"""ms per alignment of a 40k-point prediction to a 100k-point scan, ours beside trimesh.registration.icp."""

import numpy as np
import trimesh
from _common import emit, median_ms

from frontside.geometry.icp import icp
from frontside.geometry.transforms import rotation_matrix


def surface(n: int, seed: int) -> np.ndarray:
    """Points on a face-like surface (a bumpy, asymmetric dome), mm."""
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(-1, 1, (2, n))
    z = 40 * np.exp(-(u ** 2 + v ** 2)) + 25 * np.exp(-((u - 0.1) ** 2 + (v + 0.1) ** 2) * 20) + 5 * u * v
    return np.column_stack([u * 70, v * 90, z])


def main() -> None:
    scan = surface(100_000, 0)
    prediction = surface(40_000, 1)
    truth = np.eye(4)
    truth[:3, :3] = rotation_matrix(4, -3, 2)
    truth[:3, 3] = [2.0, -1.5, 1.0]
    moved = prediction @ np.linalg.inv(truth)[:3, :3].T + np.linalg.inv(truth)[:3, 3]

    ours = {}

    def run_ours():
        ours["r"] = icp(moved, scan, max_iterations=30, tolerance=1e-3)

    theirs = {}

    def run_trimesh():
        matrix, _, cost = trimesh.registration.icp(moved, scan, max_iterations=30, threshold=1e-6, scale=False)
        theirs["matrix"], theirs["cost"] = matrix, cost

    ours_ms = median_ms(run_ours, repeats=5, warmup=1)
    trimesh_ms = median_ms(run_trimesh, repeats=3, warmup=1)
    from scipy.spatial import cKDTree

    tree = cKDTree(scan)

    def mean_distance(m):
        return float(tree.query(moved @ m[:3, :3].T + m[:3, 3])[0].mean())

    emit({"prediction_points": len(prediction), "scan_points": len(scan),
          "ours_ms": round(ours_ms, 1), "trimesh_ms": round(trimesh_ms, 1),
          "speedup": round(trimesh_ms / ours_ms, 2),
          "ours_mean_distance_mm": mean_distance(ours["r"].transform),
          "trimesh_mean_distance_mm": mean_distance(theirs["matrix"]),
          "ours_iterations": ours["r"].iterations})


if __name__ == "__main__":
    main()
