"""Pairs per second of dataset generation, in one run, for the old path and the new ones:

- pyrender-rebuild: OpenGL rebuilding its scene and re-uploading the face for every view (the path before);
- pyrender: one scene per thread, one upload per face for both views;
- raster: the CPU renderer on the position maps' numba kernel (the default).

For each: the bare loop (plain `generate_shard` calls on one thread, split by stage) and the Prefect flow on 1
and 2 workers, each run `--repeats` times (interleaved) and reported by its median beside every run's figure: a
flow run of 200 raster faces lasts 6-10 s, and single runs of the same configuration moved by 15%. Each
renderer's bare loop and its flows run in fresh processes, so peak memory (max RSS) is their own. Prefect's
overhead is the flow on 1 worker against the same dataset driver without Prefect on one thread (`make_dataset`);
memory flatness is the raster flows' peak with all the faces against a 2-worker run with a quarter of them. Load
averages are recorded beside the figures: on a shared machine the absolute numbers move with the others' work,
the ratios much less.

    python benchmarks/generate.py             # 200 faces per flow run, median of 3 runs (~14 min on 2 cores)
    python benchmarks/generate.py --quick     # 32 faces, one run (~3 min)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit

RENDERERS = ("pyrender-rebuild", "pyrender", "raster")
OLD, NEW = "pyrender-rebuild", "raster"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes


def _median_run(seconds: list[float], faces: int) -> dict:
    """pairs/s of the median of repeated runs, with every run's, so the spread shows beside the figure."""
    return {"pairs_per_s": round(faces / statistics.median(seconds), 2),
            "pairs_per_s_each": [round(faces / s, 2) for s in seconds], "seconds": round(statistics.median(seconds), 2)}


def bare(renderer: str, faces: int, shard_size: int, scratch: str, repeats: int) -> dict:
    """The bare loop: generate_pairs + write_shard per shard on this thread, `repeats` times; seconds split by
    stage (over all repeats)."""
    import numba

    from frontside.datasets.generation import GenerateParams, generate_pairs, generate_shard, plan_shards
    from frontside.datasets.shards import join, shard_name, write_shard

    numba.set_num_threads(1)
    params = GenerateParams(n_faces=faces, shard_size=shard_size, renderer=renderer)
    generate_shard(plan_shards(1, 1)[0], GenerateParams(n_faces=1, shard_size=1, renderer=renderer),
                   f"{scratch}/warm-up")  # warm-up: OpenGL context, numba, textures, the model cache
    stages: dict[str, float] = {}
    runs = []
    for repeat in range(repeats):
        out = f"{scratch}/bare-{repeat}"
        os.makedirs(out)
        start = time.perf_counter()
        for spec in plan_shards(faces, shard_size):
            pairs = generate_pairs(spec, params, stages)
            t = time.perf_counter()
            write_shard(join(out, shard_name(spec.index)), pairs)
            stages["row"] = stages.get("row", 0.0) + time.perf_counter() - t
        runs.append(time.perf_counter() - start)
    return {**_median_run(runs, faces),
            "ms_per_pair_by_stage": {k: round(1000 * v / (faces * repeats), 1) for k, v in stages.items()},
            "peak_rss_mb": _peak_rss_mb()}


def flows(renderer: str, faces: int, shard_size: int, workers: list[int], scratch: str, repeats: int) -> dict:
    """`frontside generate` as the CLI runs it (the flow on a thread pool, Prefect's settings for a server that
    lives with the command) for each worker count, and the same dataset driver without Prefect on this thread
    (`make_dataset`: the same checks, shards, hashes and manifest, no sample grid), `repeats` times interleaved,
    after a warm-up run, under one Prefect server (starting one takes minutes on a loaded machine). The peak
    memory is the process's over all runs."""
    from prefect.testing.utilities import prefect_test_harness

    from frontside.cli.prefect_server import ephemeral_run_settings
    from frontside.datasets.driver import make_dataset
    from frontside.datasets.generate_source import GenerateSource
    from frontside.datasets.generation import GenerateParams
    from frontside.flows.generate import run_generate

    def driver(out: str) -> None:
        make_dataset(GenerateSource(GenerateParams(n_faces=faces, shard_size=shard_size, seed=0,
                                                   renderer=renderer)), out)

    configurations = {"driver_1_thread": driver}
    for n in workers:
        configurations[f"flow_{n}_workers"] = functools.partial(
            lambda out, n: run_generate(workers=n, n_faces=faces, shard_size=shard_size, out=out, seed=0,
                                        renderer=renderer), n=n)
    runs: dict[str, list[float]] = {name: [] for name in configurations}
    with prefect_test_harness(server_startup_timeout=600), ephemeral_run_settings():
        run_generate(workers=max(workers), n_faces=2, shard_size=1, out=f"{scratch}/warm-up", renderer=renderer)
        for repeat in range(repeats):
            for name, run in configurations.items():
                out = f"{scratch}/{name}-{repeat}"
                start = time.perf_counter()
                run(out)
                runs[name].append(time.perf_counter() - start)
                shutil.rmtree(out)
    result = {name: _median_run(seconds, faces) for name, seconds in runs.items()}
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _child(*args: str) -> dict:
    """Run one configuration in a fresh process (its own peak memory, no warm state) and return its JSON."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child", *args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(faces: int, bare_faces: int, shard_size: int, repeats: int) -> None:
    loads = {"start": [round(x, 2) for x in os.getloadavg()]}
    result: dict = {"faces_per_flow_run": faces, "faces_per_bare_loop": bare_faces, "shard_size": shard_size,
                    "repeats (median reported)": repeats, "cpus": os.cpu_count(), "renderers": {}}
    for renderer in RENDERERS:
        entry = {"bare_1_thread": _child("bare", renderer, str(bare_faces), str(shard_size), str(repeats))}
        entry.update(_child("flow", renderer, str(faces), str(shard_size), str(repeats), "1", "2"))
        result["renderers"][renderer] = entry
        loads[f"after_{renderer}"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps({renderer: entry}), file=sys.stderr, flush=True)  # partial results as they come
    small = max(faces // 4, shard_size)
    result["memory_flatness_peak_rss_mb"] = {
        f"raster_flow_2_workers_{small}_faces": _child("flow", NEW, str(small), str(shard_size), "1", "2")["peak_rss_mb"],
        f"raster_flows_1_and_2_workers_{faces}_faces": result["renderers"][NEW]["peak_rss_mb"]}
    new, old = result["renderers"][NEW], result["renderers"][OLD]
    result["speedup_vs_old_path"] = {
        f"{key}": round(new[key]["pairs_per_s"] / old[key]["pairs_per_s"], 2)
        for key in ("bare_1_thread", "flow_1_workers", "flow_2_workers")}
    result["prefect_overhead_pct"] = {
        r: round(100 * (e["driver_1_thread"]["pairs_per_s"] / e["flow_1_workers"]["pairs_per_s"] - 1), 1)
        for r, e in result["renderers"].items()}
    loads["end"] = [round(x, 2) for x in os.getloadavg()]
    result["load_average"] = loads
    emit(result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=200, help="faces per flow run (default: %(default)s)")
    parser.add_argument("--bare-faces", type=int, default=64, help="faces of each bare loop (default: %(default)s)")
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each configuration; the median is reported (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="32 faces per flow run, 16 per bare loop, 1 run each")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, renderer, n, shard, repeats = args.child[:5]
        with tempfile.TemporaryDirectory(prefix="bench-generate-") as scratch:  # ~85 MB a flow run
            if kind == "bare":
                out = bare(renderer, int(n), int(shard), scratch, int(repeats))
            else:
                out = flows(renderer, int(n), int(shard), [int(w) for w in args.child[5:]], scratch, int(repeats))
        print(json.dumps(out))
    elif args.quick:
        main(32, 16, 8, 1)
    else:
        main(args.faces, args.bare_faces, args.shard_size, args.repeats)
