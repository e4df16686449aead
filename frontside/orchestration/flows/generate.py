"""The generation flow: check everything (first task), then the dataset driver runs one task per shard."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from frontside import checks
from frontside.io import join
from frontside.orchestration.flows.shard_runner import prefect_shards
from frontside.orchestration.tasks.datasets import check_dataset_task, write_shard_task
from frontside.store.card import SAMPLE_GRID_NAME, sample_grid_exists
from frontside.store.driver import build_dataset
from frontside.store.manifest import Manifest
from frontside.synthesis.config import GenerateConfig
from frontside.synthesis.generate import GenerateSource


@flow(name="generate-dataset", log_prints=True)
def generate_dataset(config: GenerateConfig) -> dict:
    """Generate (or resume, or repair) a synthetic dataset at `config.out`; returns a summary: out, manifest (its
    URL), rows, shards, written, skipped, failed. The task runner is the caller's (`run_generate`).

    Bad parameters or inputs fail before anything is written: a size or renderer when the config is built,
    everything else in the first task. Running it again with the same parameters and inputs skips every shard
    whose bytes match the manifest and redoes only missing or corrupt ones; other parameters, or another model
    file or background set, for an existing dataset are refused. See `frontside.store.driver`.
    """
    plan = check_dataset_task(GenerateSource(config.params()), config.out)
    summary = build_dataset(plan, prefect_shards(write_shard_task), progress=config.progress)
    _summarise(summary.out, Manifest.load(summary.out), summary.written, summary.kept)
    print(f"{summary.out}: {summary.rows} pairs in {summary.shards} shards ({summary.written} written, "
          f"{summary.kept} valid)")
    return summary.as_dict()


def _summarise(out: str, manifest: Manifest, written: int, skipped: int) -> None:
    """A Prefect table artifact of the shards and a markdown summary linking the sample grid (the driver made it
    beside the shards)."""
    create_table_artifact(key="generated-shards", description=f"Shards of {out}",
                          table=[{"shard": s.name, "rows": s.rows, "sha256": s.sha256[:16], "bytes": s.nbytes}
                                 for s in sorted(manifest.shards.values(), key=lambda s: s.name)])
    summary = (f"**{manifest.rows} pairs** in {len(manifest.shards)} shards at `{out}`: {written} written, "
               f"{skipped} already valid and skipped.\n\nParameters: `{manifest.parameters}`; "
               f"code `{manifest.code_version}`.")
    if sample_grid_exists(out):  # made by the driver beside the shards
        url = join(out, SAMPLE_GRID_NAME)
        link = url if "://" in url else Path(url).resolve().as_uri()
        first = sorted(manifest.shards)[0]
        summary += (f"\n\nSample pairs of `{first}` (each view with its landmarks, parts and depth; the position "
                    f"map): [{SAMPLE_GRID_NAME}]({link})\n\n![sample pairs]({link})")
    create_markdown_artifact(key="generated-dataset", markdown=summary, description=f"Dataset {out}")


def task_runner(workers: int = 2, dask_address: str | None = None):
    """Threads on this machine by default; an existing Dask cluster (prefect-dask) when an address is given."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=workers)


def run_generate(config: GenerateConfig) -> dict:
    """Run `generate_dataset` on the task runner the config chooses (threads, or its Dask cluster)."""
    checks.task_runner(config.workers, config.dask_address)
    return generate_dataset.with_options(task_runner=task_runner(config.workers, config.dask_address))(config)


@flow(name="generate-dataset-scaled", log_prints=True)
def generate_dataset_scaled(config: GenerateConfig) -> dict:
    """`generate_dataset` as a subflow on the task runner the config chooses: the deployment's entry point
    (`prefect.yaml`'s `generate`)."""
    return run_generate(config)
