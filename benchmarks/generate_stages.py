"""Where a generated pair's time goes: the bare loop on one thread, no Prefect, split finely.

Per pair: each stage of `make_pair` (face, render, of which the landmark crop, labels, background, posmap),
then each column of the row (the PNGs, the float16 arrays, cameras and lights), the Parquet encoding and the
whole `write_shard`; wall and CPU time (CPU of this thread, and of the process: BLAS's own threads show as the
difference), bytes per pair of each column in the shard, the load average before and after.

    python benchmarks/generate_stages.py [--faces 48] [--shard-size 16]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from contextlib import contextmanager

from _common import emit


def _best(fn, *args, repeats: int = 3, **kwargs) -> tuple[float, float]:
    """(CPU, wall) seconds of the fastest of `repeats` calls fn(*args, **kwargs) (CPU of this thread)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.thread_time()
        fn(*args, **kwargs)
        best = min(best, (time.thread_time() - cpu, time.perf_counter() - wall))
    return best


def _cameras_and_lights(views: list) -> None:
    import pyarrow as pa

    from frontside.store import shards

    pa.array([shards._camera_row(v.camera) for v in views], shards.CAMERA_TYPE)
    pa.array([shards._lighting_row(v.lighting) for v in views], shards.LIGHTING_TYPE)


def main(faces: int, shard_size: int) -> dict:
    import numba
    import numpy as np
    import pyarrow.parquet as pq

    from frontside.store import shards
    from frontside.synthesis import pairs as synthetic
    from frontside.synthesis.config import GenerateParams
    from frontside.synthesis.generate import _pipeline, face_rng, generate_pairs, plan_shards

    numba.set_num_threads(1)
    loads = {"start": [round(x, 2) for x in os.getloadavg()]}
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    timed_stage = synthetic.stage

    @contextmanager
    def stage(timings, name):  # make_pair's stages with this thread's CPU time beside the wall time
        start = time.thread_time()
        with timed_stage(timings, name):
            yield
        cpu[name] = cpu.get(name, 0.0) + time.thread_time() - start

    synthetic.stage = stage
    params = GenerateParams(n_faces=faces, shard_size=shard_size)
    generate_pairs(plan_shards(1, 1)[0], GenerateParams(n_faces=1, shard_size=1))  # numba, textures, the model
    start = (time.perf_counter(), time.process_time(), time.thread_time())
    groups = [generate_pairs(spec, params, wall) for spec in plan_shards(faces, shard_size)]
    made = [b - a for a, b in zip(start, (time.perf_counter(), time.process_time(), time.thread_time()))]
    synthetic.stage = timed_stage

    source, renderer, _ = _pipeline(params)
    crop = [0.0, 0.0]  # the camera and landmark crop of both views, again, alone (inside "render" above)
    for i in range(faces):
        rng = face_rng(0, i)
        face, _ = source.draw(rng, "crop")
        poses = synthetic.sample_poses(rng)
        for pose in poses:
            cpu_crop, wall_crop = _best(synthetic.cropped_camera, renderer, face, pose, 256, None, repeats=1)
            crop = [crop[0] + cpu_crop, crop[1] + wall_crop]

    row: dict[str, list[float]] = {}

    def add(name: str, seconds: tuple[float, float]) -> None:
        row[name] = [a + 1000 * b / faces for a, b in zip(row.get(name, [0.0, 0.0]), seconds)]

    sizes: dict[str, int] = {}
    scratch = tempfile.TemporaryDirectory(prefix="bench-stages-")
    out = scratch.name
    for pairs in groups:
        schema = shards.shard_schema(pairs[0].size, True, True)
        images = {"front_png": [p.front for p in pairs], "side_png": [p.side for p in pairs],
                  "mask_png": [np.asarray(p.mask, bool) for p in pairs],
                  "front_segmentation": [p.front_view.segmentation for p in pairs],
                  "side_segmentation": [p.side_view.segmentation for p in pairs]}
        for name, arrays in images.items():
            add(name, _best(shards._images, name, arrays))
        floats = {"posmap": [p.posmap for p in pairs], "front_depth": [p.front_view.depth for p in pairs],
                  "side_depth": [p.side_view.depth for p in pairs]}
        for name, arrays in floats.items():
            add(f"{name} (float16)", _best(shards._arrays, arrays, schema.field(name).type, "<f2"))
        views = [v for p in pairs for v in (p.front_view, p.side_view)]
        add("cameras and lights", _best(_cameras_and_lights, views))
        add("pairs_to_table (all columns)", _best(shards.pairs_to_table, pairs))
        table = shards.pairs_to_table(pairs)
        options = dict(row_group_size=len(pairs), **shards.writer_options(table.schema))
        add("parquet encoding", _best(pq.write_table, table, io.BytesIO(), **options))
        buf = io.BytesIO()
        pq.write_table(table, buf, **options)
        add("write_shard (the whole row stage)", _best(shards.write_shard, f"{out}/s.parquet", pairs))
        group = pq.ParquetFile(io.BytesIO(buf.getvalue())).metadata.row_group(0)
        for c in range(group.num_columns):
            column = group.column(c)
            top = column.path_in_schema.split(".")[0]
            sizes[top] = sizes.get(top, 0) + column.total_compressed_size
        sizes["(file)"] = sizes.get("(file)", 0) + len(buf.getvalue())
    loads["end"] = [round(x, 2) for x in os.getloadavg()]
    ms = lambda seconds: round(1000 * seconds / faces, 2)  # noqa: E731
    return {
        "faces": faces, "shard_size": shard_size, "load_average": loads,
        "make_pair_ms_per_pair": {"wall": ms(made[0]), "process_cpu": ms(made[1]), "thread_cpu": ms(made[2])},
        "stage_ms_per_pair": {name: {"cpu": ms(cpu[name]), "wall": ms(wall[name])} for name in wall}
        | {"crop (inside render)": {"cpu": ms(crop[0]), "wall": ms(crop[1])}},
        "row_ms_per_pair (best of 3)": {name: {"cpu": round(c, 2), "wall": round(w, 2)} for name, (c, w) in row.items()},
        "bytes_per_pair": {name: round(n / faces) for name, n in sorted(sizes.items(), key=lambda kv: -kv[1])
                           if n / faces >= 50},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=48)
    parser.add_argument("--shard-size", type=int, default=16)
    args = parser.parse_args()
    emit(main(args.faces, args.shard_size))
