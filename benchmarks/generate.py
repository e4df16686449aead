"""Pairs per second of dataset generation, in one run, for the old path and the new ones:

- pyrender-rebuild: OpenGL rebuilding its scene and re-uploading the face for every view (the path before);
- pyrender: one scene per thread, one upload per face for both views;
- raster: the CPU renderer on the position maps' numba kernel (the default).

For each: the bare loop (plain `generate_shard` calls on one thread, split by stage), the dataset driver without
Prefect on one thread (`make_dataset`: the same checks, shards, hashes and manifest as the flow) and the Prefect
flow on 1 and 2 workers, in `--rounds` rounds over every renderer; the median of the rounds is reported beside
each round's figure, and the speed-up both from the medians and round by round (this machine's speed drifts by
up to 20% over a quarter of an hour, and a flow run of 200 raster faces lasts 6-10 s). Each renderer's bare loop,
and its flows with the driver, run in fresh processes, so their peak memory (max RSS) is their own. Prefect's
overhead is the flow on 1 worker against the driver, by their time outside the shards' work (the work being
the same code), and, noisier, by their throughput; memory flatness is the raster flows' peak with all the faces
against a 2-worker run with a quarter of them. Load averages are recorded beside the figures. A child that
fails, crashes or runs past `--child-timeout` (30 minutes) stops the benchmark with a message naming it and
the end of its stderr; each child runs in a process group of its own, stopped whole when it ends (a crashed
child's Prefect server once kept the benchmark waiting until it was killed by hand).

    python benchmarks/generate.py             # 200 faces per flow run, 3 rounds (~22 min on 2 cores)
    python benchmarks/generate.py --quick     # 32 faces, one round (~3 min)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ChildFailed, emit, run_child

import tools.pyrender_rebuild  # noqa: F401  (registers the "pyrender-rebuild" baseline)

RENDERERS = ("pyrender-rebuild", "pyrender", "raster")
OLD, NEW = "pyrender-rebuild", "raster"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes


def bare(renderer: str, faces: int, shard_size: int, scratch: str) -> dict:
    """The bare loop: generate_faces + write_shard per shard on this thread, seconds split by stage."""
    import numba

    from frontside.io import join
    from frontside.store.layout import shard_name
    from frontside.store.shards import write_shard
    from frontside.synthesis.config import GenerateParams
    from frontside.synthesis.generate import generate_faces, generate_shard, plan_shards

    numba.set_num_threads(1)
    params = GenerateParams(n_faces=faces, shard_size=shard_size, renderer=renderer)
    generate_shard(plan_shards(1, 1)[0], GenerateParams(n_faces=1, shard_size=1, renderer=renderer),
                   f"{scratch}/warm-up")  # warm-up: OpenGL context, numba, textures, the model cache
    out, stages = f"{scratch}/bare", {}
    os.makedirs(out)
    start = time.perf_counter()
    for spec in plan_shards(faces, shard_size):
        pairs = generate_faces(spec, params, stages)
        t = time.perf_counter()
        write_shard(join(out, shard_name(spec.index)), pairs)
        stages["row"] = stages.get("row", 0.0) + time.perf_counter() - t
    seconds = time.perf_counter() - start
    return {"bare_1_thread": {"pairs_per_s": round(faces / seconds, 2),
                              "ms_per_pair_by_stage": {k: round(1000 * v / faces, 1) for k, v in stages.items()},
                              "peak_rss_mb": _peak_rss_mb()}}


def flows(renderer: str, faces: int, shard_size: int, workers: list[int], scratch: str) -> dict:
    """`frontside generate` as the CLI runs it (the flow on a thread pool, Prefect's settings for a server that
    lives with the command) for each worker count, and the same dataset driver without Prefect on this thread
    (`make_dataset`: the same checks, shards, hashes, manifest, card and sample grid), after a warm-up run, under
    one Prefect server (starting one takes minutes on a loaded machine). The peak memory is the process's.

    On one thread, the time spent outside the shards' work (`GenerateSource.write_shard`, timed here) is the
    driver's or the flow's own: the difference is Prefect's cost, free of the machine's drift, which moves
    whole runs by 10-20% and so the throughput of two runs by more than the overhead measured."""
    from prefect.testing.utilities import prefect_test_harness

    from frontside.cli.prefect_server import ephemeral_run_settings
    from frontside.orchestration.flows.generate import run_generate
    from frontside.store.driver import make_dataset
    from frontside.synthesis.config import GenerateConfig, GenerateParams
    from frontside.synthesis.generate import GenerateSource

    shard_seconds = [0.0]
    write_shard = GenerateSource.write_shard

    def timed_write_shard(self, job, out):
        start = time.perf_counter()
        try:
            return write_shard(self, job, out)
        finally:
            shard_seconds[0] += time.perf_counter() - start  # one writer at a time where it is read (1 thread)

    GenerateSource.write_shard = timed_write_shard

    def driver(out: str) -> None:
        make_dataset(GenerateSource(GenerateParams(n_faces=faces, shard_size=shard_size, seed=0,
                                                   renderer=renderer)), out)

    def flow(n: int):
        def run(out: str) -> None:
            run_generate(GenerateConfig(workers=n, n_faces=faces, shard_size=shard_size, out=out, seed=0, renderer=renderer))
        return run

    configurations = {"driver_1_thread": driver, **{f"flow_{n}_workers": flow(n) for n in workers}}
    result = {}
    with prefect_test_harness(server_startup_timeout=600), ephemeral_run_settings():
        run_generate(GenerateConfig(workers=max(workers), n_faces=2, shard_size=1, out=f"{scratch}/warm-up",
                                    renderer=renderer))
        for name, run in configurations.items():
            out = f"{scratch}/{name}"
            shard_seconds[0] = 0.0
            start = time.perf_counter()
            run(out)
            seconds = time.perf_counter() - start
            result[name] = {"pairs_per_s": round(faces / seconds, 2), "seconds": round(seconds, 3)}
            if name in TIMED_OUTSIDE_SHARDS:
                result[name]["outside_shards_s"] = round(seconds - shard_seconds[0], 3)
            shutil.rmtree(out)
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _child(*args: str, timeout: float) -> dict:
    """Run one configuration in a fresh process (its own peak memory, no warm state) and return its JSON; a child
    that fails, crashes or runs past `timeout` seconds stops the benchmark (`ChildFailed`), leaving nothing
    running."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    out = run_child([sys.executable, str(Path(__file__)), "--child", *args], name=" ".join(args), env=env,
                    timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


CONFIGURATIONS = ("bare_1_thread", "driver_1_thread", "flow_1_workers", "flow_2_workers")
COMPARED = ("bare_1_thread", "flow_1_workers", "flow_2_workers")  # the speed-ups against the old path
TIMED_OUTSIDE_SHARDS = ("driver_1_thread", "flow_1_workers")  # one thread: the shards' work is timed alone


def _summary(rounds: list[dict]) -> dict:
    """One renderer's rounds as figures: each configuration's median pairs/s beside every round's, the bare
    loop's stages averaged over the rounds, the largest peak memory."""
    entry = {}
    for key in CONFIGURATIONS:
        each = [r[key]["pairs_per_s"] for r in rounds]
        entry[key] = {"pairs_per_s": round(statistics.median(each), 2), "pairs_per_s_each": each}
    stages = [r["bare_1_thread"]["ms_per_pair_by_stage"] for r in rounds]
    entry["bare_1_thread"]["ms_per_pair_by_stage"] = {k: round(statistics.mean(s[k] for s in stages), 1)
                                                      for k in stages[0]}
    entry["bare_1_thread"]["peak_rss_mb"] = max(r["bare_1_thread"]["peak_rss_mb"] for r in rounds)
    entry["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rounds)
    return entry


def _overhead(rounds: list[dict]) -> dict:
    """Prefect's overhead on one worker, round by round and the median: the flow's time outside the shards' work
    less the driver's, over the driver's whole run."""
    each = [round(100 * (r["flow_1_workers"]["outside_shards_s"] - r["driver_1_thread"]["outside_shards_s"])
                  / r["driver_1_thread"]["seconds"], 1) for r in rounds]
    return {"median": round(statistics.median(each), 1), "each": each,
            "outside_shards_s": {key: [r[key]["outside_shards_s"] for r in rounds]
                                 for key in TIMED_OUTSIDE_SHARDS}}


def main(faces: int, bare_faces: int, shard_size: int, rounds: int, child_timeout: float) -> None:
    """`rounds` rounds, each running every renderer's configurations once, so the renderers compared are measured
    minutes apart at most: this machine's speed drifts by 20% over a quarter of an hour. Each configuration runs
    in a child process, stopped after `child_timeout` seconds."""
    loads = {"start": [round(x, 2) for x in os.getloadavg()]}
    result: dict = {"faces_per_flow_run": faces, "faces_per_bare_loop": bare_faces, "shard_size": shard_size,
                    "rounds (median reported)": rounds, "cpus": os.cpu_count(), "renderers": {}}
    measured: dict[str, list[dict]] = {r: [] for r in RENDERERS}
    for round_index in range(rounds):
        for renderer in RENDERERS:
            got = _child("bare", renderer, str(bare_faces), str(shard_size), timeout=child_timeout)
            got.update(_child("flow", renderer, str(faces), str(shard_size), "1", "2", timeout=child_timeout))
            measured[renderer].append(got)
            print(json.dumps({"round": round_index, renderer: got}), file=sys.stderr, flush=True)  # as they come
        loads[f"after_round_{round_index}"] = [round(x, 2) for x in os.getloadavg()]
    result["renderers"] = {r: _summary(rounds_measured) for r, rounds_measured in measured.items()}
    small = max(faces // 4, shard_size)
    result["memory_flatness_peak_rss_mb"] = {
        f"raster_flow_2_workers_{small}_faces": _child("flow", NEW, str(small), str(shard_size), "2",
                                                        timeout=child_timeout)["peak_rss_mb"],
        f"raster_flows_1_and_2_workers_{faces}_faces": result["renderers"][NEW]["peak_rss_mb"]}
    new, old = result["renderers"][NEW], result["renderers"][OLD]
    result["speedup_vs_old_path"] = {
        key: round(new[key]["pairs_per_s"] / old[key]["pairs_per_s"], 2)
        for key in COMPARED}
    result["speedup_vs_old_path_each_round"] = {
        key: [round(a / b, 2) for a, b in zip(new[key]["pairs_per_s_each"], old[key]["pairs_per_s_each"])]
        for key in COMPARED}
    result["prefect_overhead_pct"] = {r: _overhead(rounds_measured) for r, rounds_measured in measured.items()}
    result["prefect_overhead_pct_by_throughput"] = {
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
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over every renderer and configuration; medians reported (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="32 faces per flow run, 16 per bare loop, one round")
    parser.add_argument("--child-timeout", type=float, default=1800.0,
                        help="seconds a configuration's child may run before it is stopped (default: %(default)g)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, renderer, n, shard = args.child[:4]
        with tempfile.TemporaryDirectory(prefix="bench-generate-") as scratch:  # ~85 MB a flow run
            if kind == "bare":
                out = bare(renderer, int(n), int(shard), scratch)
            else:
                out = flows(renderer, int(n), int(shard), [int(w) for w in args.child[4:]], scratch)
        print(json.dumps(out))
    else:
        try:
            main(*((32, 16, 8, 1) if args.quick else (args.faces, args.bare_faces, args.shard_size, args.rounds)),
                 child_timeout=args.child_timeout)
        except ChildFailed as exc:
            print(f"benchmarks/generate.py: {exc}", file=sys.stderr)
            sys.exit(1)
