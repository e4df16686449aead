"""Prefect tasks of the generation flow: one check, then one task run per shard, never per face (a task run
costs ~30 ms)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from frontside.datasets.driver import DatasetPlan, ShardJob, ShardOutcome, check_dataset
from frontside.datasets.generate_source import GenerateSource


@task(name="check-generate", cache_policy=NO_CACHE)  # a check runs every time
def check_generate_task(source: GenerateSource, out: str) -> DatasetPlan:
    """Every parameter and input checked, nothing written (the flow's first task: bad input fails here)."""
    return check_dataset(source, out)


@task(name="generate-shard", retries=2, retry_delay_seconds=1, task_run_name="shard-{job.index:05d}")
def generate_shard_task(source: GenerateSource, job: ShardJob, out: str) -> ShardOutcome:
    """Write one shard (or keep it when a valid copy exists)."""
    return source.write_shard(job, out)
