"""ms per alignment of a 40k-point prediction to a 100k-point scan, ours beside trimesh.registration.icp.

Same data and the same iteration cap (30) for both, and each builds its KD-tree over the scan inside the timed
call. The final error is measured the same way for both: the mean distance from every point of the aligned
prediction to its nearest scan point. Ours stops at a relative change of 1e-3 in that distance, trimesh at an
absolute change of 1e-6 in its mean squared distance; both report how many iterations they ran.

The CPU is shared with other jobs, so the runs alternate between the two (both see the same load), the figures
are medians over --repeats pairs, and the output gives the load average before and after. With --max-load, the
script first waits (at most --wait seconds) for the 1-minute load average to fall to that level.
"""

import argparse
import os
import time

import numpy as np
import trimesh
from _common import emit
from scipy.spatial import cKDTree

from frontside.geometry.icp import icp
from frontside.geometry.transforms import rotation_matrix

ITERATIONS = 30


def surface(n: int, seed: int) -> np.ndarray:
    """Points on a face-like surface (a bumpy, asymmetric dome), mm."""
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(-1, 1, (2, n))
    z = 40 * np.exp(-(u ** 2 + v ** 2)) + 25 * np.exp(-((u - 0.1) ** 2 + (v + 0.1) ** 2) * 20) + 5 * u * v
    return np.column_stack([u * 70, v * 90, z])


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return 1000.0 * (time.perf_counter() - start), out


def wait_for_load(max_load: float | None, wait_s: float) -> float:
    """Seconds spent waiting for the 1-minute load average to reach max_load (gives up after wait_s)."""
    start = time.monotonic()
    while max_load is not None and os.getloadavg()[0] > max_load and time.monotonic() - start < wait_s:
        time.sleep(5)
    return time.monotonic() - start


def trimesh_iterations(moved: np.ndarray, scan: np.ndarray) -> int:
    """How many iterations trimesh's icp runs here (it does not say): count its Procrustes fits, untimed."""
    count = [0]
    procrustes = trimesh.registration.procrustes

    def counting(*args, **kwargs):
        count[0] += 1
        return procrustes(*args, **kwargs)

    trimesh.registration.procrustes = counting
    try:
        trimesh.registration.icp(moved, scan, max_iterations=ITERATIONS, threshold=1e-6, scale=False)
    finally:
        trimesh.registration.procrustes = procrustes
    return count[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each (medians reported)")
    parser.add_argument("--max-load", type=float, default=None, help="wait for the 1-min load average to reach this")
    parser.add_argument("--wait", type=float, default=300.0, help="... for at most this many seconds")
    args = parser.parse_args()

    scan = surface(100_000, 0)
    prediction = surface(40_000, 1)
    truth = np.eye(4)
    truth[:3, :3] = rotation_matrix(4, -3, 2)
    truth[:3, 3] = [2.0, -1.5, 1.0]
    inverse = np.linalg.inv(truth)
    moved = prediction @ inverse[:3, :3].T + inverse[:3, 3]

    def run_ours(workers: int = -1):
        return icp(moved, scan, max_iterations=ITERATIONS, tolerance=1e-3, workers=workers).transform

    def run_trimesh():
        return trimesh.registration.icp(moved, scan, max_iterations=ITERATIONS, threshold=1e-6, scale=False)[0]

    waited = wait_for_load(args.max_load, args.wait)
    load_before = os.getloadavg()
    run_ours(), run_trimesh()  # warm up
    ours_ms, trimesh_ms, ours_1_ms, loads = [], [], [], []
    for i in range(args.repeats):
        loads.append(os.getloadavg()[0])
        pair = [("ours", run_ours), ("trimesh", run_trimesh)]
        for name, fn in pair if i % 2 == 0 else pair[::-1]:
            ms, matrix = timed(fn)
            (ours_ms if name == "ours" else trimesh_ms).append(ms)
            if name == "ours":
                ours_matrix = matrix
            else:
                trimesh_matrix = matrix
        ours_1_ms.append(timed(lambda: run_ours(workers=1))[0])
    load_after = os.getloadavg()

    tree = cKDTree(scan)
    prebuilt_ms = float(np.median([timed(lambda: icp(moved, tree, max_iterations=ITERATIONS, tolerance=1e-3))[0]
                                   for _ in range(args.repeats)]))

    def mean_distance(m: np.ndarray) -> float:
        return float(tree.query(moved @ m[:3, :3].T + m[:3, 3])[0].mean())

    ours_result = icp(moved, scan, max_iterations=ITERATIONS, tolerance=1e-3)
    ours_median, trimesh_median = float(np.median(ours_ms)), float(np.median(trimesh_ms))
    emit({"prediction_points": len(prediction), "scan_points": len(scan), "max_iterations": ITERATIONS,
          "repeats": args.repeats,
          "ours_ms": round(ours_median, 1), "trimesh_ms": round(trimesh_median, 1),
          "speedup": round(trimesh_median / ours_median, 2),
          "speedup_of_pairs_median": round(float(np.median(np.array(trimesh_ms) / np.array(ours_ms))), 2),
          "ours_mean_distance_mm": round(mean_distance(ours_matrix), 5),
          "trimesh_mean_distance_mm": round(mean_distance(trimesh_matrix), 5),
          "mean_distance_at_truth_mm": round(mean_distance(truth), 5),
          "ours_iterations": ours_result.iterations, "trimesh_iterations": trimesh_iterations(moved, scan),
          "ours_ms_runs": [round(t, 1) for t in ours_ms], "trimesh_ms_runs": [round(t, 1) for t in trimesh_ms],
          "ours_one_core_ms": round(float(np.median(ours_1_ms)), 1),
          "ours_prebuilt_tree_ms": round(prebuilt_ms, 1),
          "load_1_min_at_each_pair": [round(x, 2) for x in loads],
          "cpu_count": os.cpu_count(),
          "load_average_1_5_15_min": {"before": [round(x, 2) for x in load_before],
                                      "after": [round(x, 2) for x in load_after]},
          "waited_for_load_s": round(waited, 1)})


if __name__ == "__main__":
    main()
