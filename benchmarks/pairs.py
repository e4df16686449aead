"""Pairs per second on one core for the built-in model, split into render, posmap, crop, background, encode."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
from _common import emit

from frontside.datasets.generation import face_rng
from frontside.datasets.synthetic import ModelSource, crop_view, sample_poses
from frontside.facemodel.builtin import load_builtin
from frontside.geometry.posmap import rasterize_posmap
from frontside.pictures import encode_png
from frontside.renderers.backgrounds import Backgrounds, composite
from frontside.renderers.pyrender_renderer import PyrenderRenderer


def main(n: int = 30) -> None:
    import numba

    numba.set_num_threads(1)
    source, renderer, backgrounds = ModelSource(load_builtin()), PyrenderRenderer(), Backgrounds.from_folder(None)
    times: dict[str, list[float]] = defaultdict(list)
    for i in range(n + 3):
        rng = face_rng(0, i)
        t = {}
        t0 = time.perf_counter()
        face = source.face(rng, "f")
        front_pose, side_pose = sample_poses(rng)
        t["face"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        views = [renderer.render(face, p, 256, rng) for p in (front_pose, side_pose)]
        t["render"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        crops = [crop_view(v, face.landmarks, rng) for v in views]
        t["crop"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        images = [composite(rgba, backgrounds.sample(rng, 256, 256)) for rgba, _ in crops]
        t["background"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rasterize_posmap(face.uv, face.triangles, crops[0][1])
        t["posmap"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for image in images:
            encode_png(image)
        t["encode"] = time.perf_counter() - t0
        if i >= 3:  # warm-up: OpenGL context, numba, texture loading
            for key, value in t.items():
                times[key].append(value)
    ms = {k: round(1000 * float(np.median(v)), 2) for k, v in times.items()}
    emit({"pairs": n, "ms_per_pair_by_stage": ms, "pairs_per_second": round(1000 / sum(ms.values()), 2)})


if __name__ == "__main__":
    main()
