"""Milliseconds per pair by stage, on one thread, for each renderer: the old path (pyrender rebuilding its scene
for every view), pyrender with one scene and one upload per face, and the raster renderer. Stages are those of
`make_face` (face, render, labels, background, posmap) plus the row (PNG encoding and the Parquet table). Also
how closely the two renderers agree on the same face, camera and lights.

    python benchmarks/pairs.py [--pairs 30] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import emit

import tools.pyrender_rebuild  # noqa: F401  (registers the "pyrender-rebuild" baseline)
from frontside.renderers.backgrounds import Backgrounds
from frontside.store.shards import faces_to_table
from frontside.synthesis.generate import face_rng, make_renderer, make_source
from frontside.synthesis.pairs import make_face

RENDERERS = ("pyrender-rebuild", "pyrender", "raster")


def stage_medians(renderer_name: str, n: int, size: int, warmup: int = 3) -> dict:
    """Median ms per pair of each stage over n pairs (after `warmup` pairs: contexts, numba, textures)."""
    source, renderer, backgrounds = make_source("builtin"), make_renderer(renderer_name), Backgrounds.from_folder(None)
    per_stage: dict[str, list[float]] = {}
    for i in range(n + warmup):
        timings: dict[str, float] = {}
        pair = make_face(source, renderer, backgrounds, face_rng(0, i), face_id=f"f{i}", face_index=i, seed=0,
                         size=size, timings=timings)
        start = time.perf_counter()
        faces_to_table([pair])
        timings["row"] = time.perf_counter() - start
        if i >= warmup:
            for key, value in timings.items():
                per_stage.setdefault(key, []).append(value)
    ms = {k: round(1000 * float(np.median(v)), 2) for k, v in per_stage.items()}
    return {"ms_per_pair_by_stage": ms, "ms_per_pair": round(sum(ms.values()), 1),
            "pairs_per_second": round(1000 / sum(ms.values()), 2)}


def agreement(size: int, faces: int = 8) -> dict:
    """Raster vs pyrender on the same face, camera and lights: silhouette IoU (alpha > 127) and mean absolute
    difference in grey levels where both are opaque and over all pixels and channels (worst and mean)."""
    from frontside.renderers.lighting import sample_lighting
    from frontside.renderers.view import Pose

    source = make_source("builtin")
    raster, gl = make_renderer("raster"), make_renderer("pyrender")
    iou, interior, everywhere = [], [], []
    for i in range(faces):
        rng = face_rng(1, i)
        face = source.face(rng, "f")
        pose = Pose(float(rng.uniform(-100, 100)), float(rng.uniform(-15, 15)), float(rng.uniform(-10, 10)))
        view = [(raster.camera(face, pose, size), sample_lighting(rng))]
        a, b = (r.render_views(face, view)[0].astype(int) for r in (raster, gl))
        sa, sb = a[..., 3] > 127, b[..., 3] > 127
        iou.append((sa & sb).sum() / (sa | sb).sum())
        both = (a[..., 3] == 255) & (b[..., 3] == 255)
        interior.append(np.abs(a - b)[both][:, :3].mean())
        everywhere.append(np.abs(a - b).mean())
    return {"faces": faces, "silhouette_iou_min": round(min(iou), 4), "silhouette_iou_mean": round(np.mean(iou), 4),
            "mad_opaque_max": round(max(interior), 2), "mad_opaque_mean": round(np.mean(interior), 2),
            "mad_all_pixels_max": round(max(everywhere), 2)}


def main(n: int, size: int) -> None:
    import numba

    from frontside.threads import blas_on_one_thread

    numba.set_num_threads(1)
    blas_on_one_thread()  # as the generator runs (`generate_faces`)
    load_before = os.getloadavg()
    results = {name: stage_medians(name, n, size) for name in RENDERERS}
    emit({"pairs": n, "size": size, "threads": 1, "load_average_before": [round(x, 2) for x in load_before],
          "load_average_after": [round(x, 2) for x in os.getloadavg()], "renderers": results,
          "raster_speedup_vs_old_path": round(results["pyrender-rebuild"]["ms_per_pair"]
                                              / results["raster"]["ms_per_pair"], 2),
          "raster_vs_pyrender_agreement": agreement(size)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    main(args.pairs, args.size)
