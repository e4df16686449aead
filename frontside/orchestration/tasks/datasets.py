"""Prefect tasks of every dataset flow (generate, convert-300wlp): one check, then one task run per shard,
never per face (a task run costs ~30 ms). The work is the source's (`frontside.store.driver`)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from frontside.store.driver import DatasetPlan, DatasetSource, ShardJob, ShardOutcome, check_dataset


@task(name="check-dataset", task_run_name="check-{source.kind}", cache_policy=NO_CACHE)  # a check runs every time
def check_dataset_task(source: DatasetSource, out: str) -> DatasetPlan:
    """Every parameter and input checked, nothing written: a flow's first task, where bad input fails."""
    return check_dataset(source, out)


@task(name="write-shard", retries=2, retry_delay_seconds=1, task_run_name="{source.kind}-shard-{job.index:05d}")
def write_shard_task(source: DatasetSource, job: ShardJob, out: str) -> ShardOutcome:
    """Write one shard, or keep it when a valid copy exists."""
    return source.write_shard(job, out)
