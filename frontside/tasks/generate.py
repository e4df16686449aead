"""Prefect tasks of the generation flow: one task run per shard, never per face (a task run costs ~30 ms)."""

from __future__ import annotations

from prefect import task

from frontside.datasets.generation import GenerateParams, ShardSpec, dataset_uv_regions, generate_shard
from frontside.datasets.shards import ShardInfo, write_uv_regions


@task(name="generate-shard", retries=2, retry_delay_seconds=1, task_run_name="shard-{spec.index:05d}")
def generate_shard_task(spec: ShardSpec, params: GenerateParams, out: str,
                        expected: ShardInfo | None = None) -> tuple[ShardInfo, bool]:
    """Write one shard (or skip it when a valid copy exists); returns (info, skipped)."""
    return generate_shard(spec, params, out, expected)


@task(name="write-uv-regions")
def write_uv_regions_task(params: GenerateParams, out: str) -> str | None:
    """Write the face model's UV region map beside the shards; returns its URL."""
    regions = dataset_uv_regions(params)
    return None if regions is None else write_uv_regions(out, regions)
