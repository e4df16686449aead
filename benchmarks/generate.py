"""Pairs per second: the bare loop (plain generate_shard calls, one thread) vs the Prefect flow on 1 and 2
workers, and what orchestration costs: the flow on 1 worker does the same work as the bare loop in one thread,
so the gap between them is Prefect's (task runs, state changes, manifest saves, artifacts)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import emit

from frontside.datasets.generation import GenerateParams, generate_shard, plan_shards


def bare_loop(n_faces: int, shard_size: int) -> float:
    params = GenerateParams(n_faces=n_faces, shard_size=shard_size, seed=0)
    out = tempfile.mkdtemp(prefix="bench-bare-")
    start = time.perf_counter()
    for spec in plan_shards(n_faces, shard_size):
        generate_shard(spec, params, out)
    return time.perf_counter() - start


def main(n_faces: int, shard_size: int) -> None:
    generate_shard(plan_shards(1, 1)[0], GenerateParams(n_faces=1, shard_size=1), tempfile.mkdtemp())  # warm-up
    bare = bare_loop(n_faces, shard_size)

    from prefect.testing.utilities import prefect_test_harness

    from frontside.flows.generate import run_generate

    flow_s = {}
    with prefect_test_harness(server_startup_timeout=90):
        run_generate(workers=2, n_faces=2, shard_size=1, out=tempfile.mkdtemp())  # server, engine, threads warm
        for workers in (1, 2):
            start = time.perf_counter()
            run_generate(workers=workers, n_faces=n_faces, shard_size=shard_size, out=tempfile.mkdtemp(), seed=0)
            flow_s[workers] = time.perf_counter() - start
    n_shards = len(plan_shards(n_faces, shard_size))
    emit({"faces": n_faces, "shard_size": shard_size, "shards": n_shards, "cpus": os.cpu_count(),
          "bare_loop_pairs_per_s": round(n_faces / bare, 2),
          "flow_1_worker_pairs_per_s": round(n_faces / flow_s[1], 2),
          "flow_2_workers_pairs_per_s": round(n_faces / flow_s[2], 2),
          "orchestration_overhead_pct": round(100 * (flow_s[1] / bare - 1), 1),
          "orchestration_overhead_per_shard_ms": round(1000 * (flow_s[1] - bare) / n_shards, 1),
          "speedup_2_workers_vs_bare": round(bare / flow_s[2], 2)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=48)
    parser.add_argument("--shard-size", type=int, default=8)
    args = parser.parse_args()
    main(args.faces, args.shard_size)
