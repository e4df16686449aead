"""Where a generated face's time goes: the bare loop on one thread, no Prefect, split finely.

Per face of `--views` views: each stage of `make_face` (face, render, of which the landmark crop, labels,
background, posmap), then each column of the row (the PNGs, the float16 arrays, cameras and lights; a side
column's figure is all its side views'), the Parquet encoding and the whole `write_shard`; wall and CPU time (CPU
of this thread, and of the process: BLAS's own threads show as the difference), faces and views per second of
the whole (`make_face` and `write_shard`), bytes per face of each column in the shard, the load average before
and after.

    python benchmarks/generate_stages.py [--faces 48] [--shard-size 16] [--views 2] [--realism all]

`--realism` (none, all, or options: `generate --realism`) adds its stage ("realism") and its bytes: what each
option costs a face, the figure issue 22 asks for.
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


def main(faces: int, shard_size: int, views: int = 2, realism: str = "none") -> dict:
    import numba
    import numpy as np
    import pyarrow.parquet as pq

    from frontside.store import shards
    from frontside.synthesis import pairs as synthetic
    from frontside.synthesis.config import GenerateParams
    from frontside.synthesis.generate import _pipeline, extra_views_rng, face_rng, generate_faces, plan_shards

    numba.set_num_threads(1)
    loads = {"start": [round(x, 2) for x in os.getloadavg()]}
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    timed_stage = synthetic.stage

    @contextmanager
    def stage(timings, name):  # make_face's stages with this thread's CPU time beside the wall time
        start = time.thread_time()
        with timed_stage(timings, name):
            yield
        cpu[name] = cpu.get(name, 0.0) + time.thread_time() - start

    synthetic.stage = stage
    params = GenerateParams(n_faces=faces, shard_size=shard_size, views=views, realism=realism)
    # numba, textures, the model (and the UV parts realism reads)
    generate_faces(plan_shards(1, 1)[0], GenerateParams(n_faces=1, shard_size=1, realism=realism))
    start = (time.perf_counter(), time.process_time(), time.thread_time())
    groups = [generate_faces(spec, params, wall) for spec in plan_shards(faces, shard_size)]
    made = [b - a for a, b in zip(start, (time.perf_counter(), time.process_time(), time.thread_time()))]
    synthetic.stage = timed_stage

    source, renderer, _ = _pipeline(params)
    crop = [0.0, 0.0]  # the camera and landmark crop of every view, again, alone (inside "render" above)
    for i in range(faces):
        rng = face_rng(0, i)
        face, _ = source.draw(rng, "crop")
        poses = [*synthetic.sample_poses(rng)]
        poses += synthetic.sample_extra_side_poses(extra_views_rng(0, i), poses[1].yaw, views - 2)
        for pose in poses:
            cpu_crop, wall_crop = _best(synthetic.cropped_camera, renderer, face, pose, 256, None, repeats=1)
            crop = [crop[0] + cpu_crop, crop[1] + wall_crop]

    row: dict[str, list[float]] = {}

    def add(name: str, seconds: tuple[float, float]) -> None:
        row[name] = [a + 1000 * b / faces for a, b in zip(row.get(name, [0.0, 0.0]), seconds)]

    sizes: dict[str, int] = {}
    scratch = tempfile.TemporaryDirectory(prefix="bench-stages-")
    out = scratch.name
    written = [0.0]  # write_shard of every shard once (wall), for the whole's throughput
    for group in groups:
        schema = shards.shard_schema(group[0].size, True, True)
        sides = [view.labels for face in group for view in face.sides]
        images = {"front_png": [f.front for f in group], "side_png": [v.image for f in group for v in f.sides],
                  "mask_png": [np.asarray(f.mask, bool) for f in group],
                  "front_segmentation": [f.front_view.segmentation for f in group],
                  "side_segmentation": [v.segmentation for v in sides]}
        for name, arrays in images.items():
            add(name, _best(shards._images, name, arrays))
        depth_map = schema.field("front_depth").type
        floats = {"posmap": ([f.posmap for f in group], schema.field("posmap").type),
                  "front_depth": ([f.front_view.depth for f in group], depth_map),
                  "side_depth": ([v.depth for v in sides], depth_map)}
        for name, (arrays, arrow_type) in floats.items():
            add(f"{name} (float16)", _best(shards._arrays, arrays, arrow_type, "<f2"))
        add("cameras and lights", _best(_cameras_and_lights, [v.labels for f in group for v in f.views]))
        add("faces_to_table (all columns)", _best(shards.faces_to_table, group))
        table = shards.faces_to_table(group)
        options = dict(row_group_size=len(group), **shards.writer_options(table.schema))
        add("parquet encoding", _best(pq.write_table, table, io.BytesIO(), **options))
        buf = io.BytesIO()
        pq.write_table(table, buf, **options)
        start_write = time.perf_counter()
        shards.write_shard(f"{out}/s.parquet", group)
        written[0] += time.perf_counter() - start_write
        add("write_shard (the whole row stage)", _best(shards.write_shard, f"{out}/s.parquet", group))
        group = pq.ParquetFile(io.BytesIO(buf.getvalue())).metadata.row_group(0)
        for c in range(group.num_columns):
            column = group.column(c)
            top = column.path_in_schema.split(".")[0]
            sizes[top] = sizes.get(top, 0) + column.total_compressed_size
        sizes["(file)"] = sizes.get("(file)", 0) + len(buf.getvalue())
    loads["end"] = [round(x, 2) for x in os.getloadavg()]
    ms = lambda seconds: round(1000 * seconds / faces, 2)  # noqa: E731
    whole = made[0] + written[0]  # make_face and one write_shard of every shard, wall
    return {
        "faces": faces, "shard_size": shard_size, "views": views, "realism": realism, "load_average": loads,
        "faces_per_s (make_face + write_shard, wall)": round(faces / whole, 2),
        "views_per_s": round(faces * views / whole, 2),
        "make_face_ms_per_face": {"wall": ms(made[0]), "process_cpu": ms(made[1]), "thread_cpu": ms(made[2])},
        "stage_ms_per_face": {name: {"cpu": ms(cpu[name]), "wall": ms(wall[name])} for name in wall}
        | {"crop (inside render)": {"cpu": ms(crop[0]), "wall": ms(crop[1])}},
        "row_ms_per_face (best of 3)": {name: {"cpu": round(c, 2), "wall": round(w, 2)} for name, (c, w) in row.items()},
        "bytes_per_face": {name: round(n / faces) for name, n in sorted(sizes.items(), key=lambda kv: -kv[1])
                           if n / faces >= 50},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=48)
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--realism", default="none", help="none, all, or options of generate --realism")
    args = parser.parse_args()
    emit(main(args.faces, args.shard_size, args.views, args.realism))
