"""Flow: 300W-LP -> the same Parquet shards + manifest as the synthetic `generate` flow (thesis 4.2.2, 4.3.4).

The first task checks everything and plans the pairs (nothing written); the dataset driver then runs one task
per shard of `shard_size` planned pairs, saving the manifest after each.
"""

from __future__ import annotations

from prefect import flow

from frontside.orchestration.flows.shard_runner import prefect_shards
from frontside.orchestration.tasks.datasets import check_dataset_task, write_shard_task
from frontside.sources.w300lp_source import ConvertConfig
from frontside.store.driver import build_dataset


@flow(name="convert-300wlp", log_prints=True)
def convert_300wlp(config: ConvertConfig) -> str:
    """Convert the 300W-LP tree at `config.root` into shards under `config.out`; returns the manifest's URL.

    config.model: `facemodel.load_model` spec, normally "bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]" (the fits are
    BFM coefficients; fits made for another model are one error before anything is converted).
    config.limit: convert only the first `limit` planned pairs (smoke runs). A tree with no pair is an error. An
    existing dataset made from other parameters, another model or other 300W-LP files is refused, never mixed.
    The task runner is the caller's (`run_convert`).
    """
    plan = check_dataset_task(config.source(), config.out)
    summary = build_dataset(plan, prefect_shards(write_shard_task), progress=config.progress)
    skipped = plan.check.extra["skipped"]
    print(f"{summary.out}: {summary.rows} pairs in {summary.shards} shards ({summary.written} written, "
          f"{summary.kept} valid); images skipped: {skipped} (named in the manifest)")
    return summary.manifest


def run_convert(config: ConvertConfig) -> str:
    """`convert_300wlp` on `config.workers` threads."""
    from frontside.orchestration.flows.generate import task_runner

    return convert_300wlp.with_options(task_runner=task_runner(config.workers))(config)


@flow(name="convert-300wlp-scaled", log_prints=True)
def convert_300wlp_scaled(config: ConvertConfig) -> str:
    """`convert_300wlp` as a subflow on `config.workers` threads: the deployment's entry point."""
    return run_convert(config)
