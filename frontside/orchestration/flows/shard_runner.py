"""The dataset driver's shards as Prefect task runs: one task run per shard, on the flow's task runner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prefect import unmapped
from prefect.futures import as_completed

from frontside.store.driver import DatasetSource, ShardJob, ShardRunner


def prefect_shards(shard_task) -> ShardRunner:
    """A `ShardRunner` mapping `shard_task(source, job, out)` over the jobs and yielding each as it finishes
    (threads, or a Dask cluster, as the flow's task runner says)."""

    def run(source: DatasetSource, jobs: list[ShardJob], out: str) -> Iterator[tuple[ShardJob, Any]]:
        futures = shard_task.map(source=unmapped(source), job=jobs, out=unmapped(out))
        job_of = {future.task_run_id: job for future, job in zip(futures, jobs)}
        for future in as_completed(futures):
            try:
                yield job_of[future.task_run_id], future.result()
            except Exception as exc:  # the driver records it and goes on with the others
                yield job_of[future.task_run_id], exc

    return run
