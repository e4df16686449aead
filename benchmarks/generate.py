"""Pairs per second: the bare loop (plain generate_shard calls) vs the Prefect flow on 2 workers."""

from __future__ import annotations

import tempfile
import time

from _common import emit

from frontside.datasets.generation import GenerateParams, generate_shard, plan_shards


def main(n_faces: int = 48, shard_size: int = 8) -> None:
    params = GenerateParams(n_faces=n_faces, shard_size=shard_size, seed=0)
    generate_shard(plan_shards(1, 1)[0], GenerateParams(n_faces=1, shard_size=1), tempfile.mkdtemp())  # warm-up
    start = time.perf_counter()
    out = tempfile.mkdtemp(prefix="bench-bare-")
    for spec in plan_shards(n_faces, shard_size):
        generate_shard(spec, params, out)
    bare = n_faces / (time.perf_counter() - start)

    from prefect.testing.utilities import prefect_test_harness

    from frontside.flows.generate import run_generate

    with prefect_test_harness(server_startup_timeout=90):
        run_generate(workers=1, n_faces=2, shard_size=1, out=tempfile.mkdtemp())  # server and engine warm-up
        results = {}
        for workers in (1, 2):
            start = time.perf_counter()
            run_generate(workers=workers, n_faces=n_faces, shard_size=shard_size, out=tempfile.mkdtemp(), seed=0)
            results[workers] = n_faces / (time.perf_counter() - start)
    emit({"faces": n_faces, "shard_size": shard_size, "bare_loop_pairs_per_s": round(bare, 2),
          "flow_1_worker_pairs_per_s": round(results[1], 2), "flow_2_workers_pairs_per_s": round(results[2], 2),
          "orchestration_overhead_1_worker_pct": round(100 * (bare / results[1] - 1), 1)})


if __name__ == "__main__":
    main()
