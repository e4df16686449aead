"""Flow: 300W-LP -> the same Parquet shards + manifest as the synthetic `generate` flow (thesis 4.2.2, 4.3.4).

The first task checks everything and plans the pairs (nothing written); the dataset driver then runs one task
per shard of `shard_size` planned pairs, saving the manifest after each.
"""

from __future__ import annotations

from prefect import flow

from frontside.datasets.driver import build_dataset
from frontside.datasets.w300lp_source import W300LPSource
from frontside.flows.shard_runner import prefect_shards
from frontside.tasks.datasets import check_dataset_task, write_shard_task


@flow(name="convert-300wlp", log_prints=True)
def convert_300wlp(root: str, out: str, shard_size: int = 256, seed: int = 0, model_spec: str = "builtin",
                   limit: int | None = None, progress: bool = False) -> str:
    """Convert the 300W-LP tree at `root` into shards under `out`; returns the manifest's URL.

    model_spec: `facemodel.load_model` spec, normally "bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]" (the fits
    are BFM coefficients; fits made for another model are one error before anything is converted).
    limit: convert only the first `limit` planned pairs (smoke runs). A tree with no pair is an error. An
    existing dataset made from other parameters, another model or other 300W-LP files is refused, never mixed.
    """
    plan = check_dataset_task(W300LPSource(root=root, model_spec=model_spec, seed=seed, shard_size=shard_size,
                                          limit=limit), out)
    summary = build_dataset(plan, prefect_shards(write_shard_task), progress=progress)
    skipped = plan.check.extra["skipped"]
    print(f"{summary.out}: {summary.rows} pairs in {summary.shards} shards ({summary.written} written, "
          f"{summary.kept} valid); images skipped: {skipped} (named in the manifest)")
    return summary.manifest
