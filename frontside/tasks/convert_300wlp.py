"""Prefect tasks of the 300W-LP converter: one check (scan, pair, plan: nothing written), then one task run
per shard of planned pairs. The work itself is `frontside.datasets.w300lp_source`."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from frontside.datasets.driver import DatasetPlan, ShardJob, ShardOutcome, check_dataset
from frontside.datasets.w300lp_source import W300LPSource


@task(name="check-300wlp", cache_policy=NO_CACHE)  # a check runs every time
def check_300wlp_task(source: W300LPSource, out: str) -> DatasetPlan:
    return check_dataset(source, out)


@task(name="convert-300wlp-shard", retries=1, retry_delay_seconds=1, task_run_name="shard-{job.index:05d}")
def convert_300wlp_shard_task(source: W300LPSource, job: ShardJob, out: str) -> ShardOutcome:
    return source.write_shard(job, out)
