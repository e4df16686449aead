"""Flow: 300W-LP -> the same Parquet shards + manifest as the synthetic `generate` flow (thesis 4.2.2, 4.3.4).

Plan first (scan, pair, write the plan JSON), then one task per shard of `shard_size` planned pairs. The
manifest is saved after every shard; a rerun with the same inputs keeps every shard whose bytes match it.
"""

from __future__ import annotations

import math

from prefect import flow
from prefect.futures import as_completed

from frontside.datasets.card import write_dataset_card
from frontside.datasets.shards import Manifest, code_version, join, shard_name
from frontside.errors import FrontsideError
from frontside.tasks.convert_300wlp import (
    convert_300wlp_shard_task,
    plan_300wlp_task,
    write_uv_regions_300wlp_task,
)


@flow(name="convert-300wlp", log_prints=True)
def convert_300wlp(root: str, out: str, shard_size: int = 256, seed: int = 0, model_spec: str = "builtin",
                   limit: int | None = None) -> str:
    """Convert the 300W-LP tree at `root` into shards under `out`; returns the manifest's URL.

    model_spec: `facemodel.load_model` spec, normally "bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]" (the fits
    are BFM coefficients). limit: convert only the first `limit` planned pairs (smoke runs).
    An existing dataset made from other parameters or another pair list is refused, never mixed.
    """
    if shard_size < 1:
        raise FrontsideError(f"shard_size must be >= 1, got {shard_size}")
    plan = plan_300wlp_task(root, out, seed, model_spec, limit)
    parameters = {"source": "300wlp", "root": str(root), "seed": int(seed), "shard_size": int(shard_size),
                  "model_spec": model_spec, "model": plan.model_name, "limit": limit, "plan_digest": plan.digest}
    manifest = Manifest.load_or_none(out)
    if manifest is not None and manifest.parameters != parameters:
        raise FrontsideError(f"{join(out, 'manifest.json')}: made with different parameters or 300W-LP files "
                             f"{manifest.parameters}; use another --out or delete it")
    if manifest is None:
        manifest = Manifest(parameters=parameters)
    manifest.code_version = code_version()
    broken: dict[str, list[str]] = dict(manifest.extra.get("broken_images", {}))
    manifest.extra = _extra(plan, broken)
    manifest.save(out)
    regions = write_uv_regions_300wlp_task.submit(out, model_spec)

    n_shards = math.ceil(plan.n_pairs / shard_size)
    futures = []
    for k in range(n_shards):
        start, stop = k * shard_size, min((k + 1) * shard_size, plan.n_pairs)
        futures.append(convert_300wlp_shard_task.submit(root, out, plan.name, k, start, stop, model_spec, seed,
                                                        manifest.shards.get(shard_name(k))))
    written = kept = 0
    for future in as_completed(futures):
        result = future.result()
        manifest.shards[result.info.name] = result.info
        if not result.skipped:
            broken[result.info.name] = result.broken
        kept += result.skipped
        written += not result.skipped
        manifest.extra = _extra(plan, broken)
        manifest.save(out)  # after every shard, so a killed run keeps what it finished
    regions.result()
    manifest.extra = {**_extra(plan, broken), "shards_written": written, "shards_skipped": kept}
    url = manifest.save(out)
    write_dataset_card(out, manifest)
    print(f"{out}: {manifest.rows} pairs in {len(manifest.shards)} shards ({written} written, {kept} valid); "
          f"skipped images: {manifest.extra['skipped']}")
    return url


def _extra(plan, broken: dict[str, list[str]]) -> dict:
    skipped = dict(plan.skipped)
    skipped["broken_image"] = sum(len(v) for v in broken.values())
    return {"skipped": skipped, "broken_images": {k: v for k, v in sorted(broken.items()) if v},
            "n_images": plan.n_images, "n_pairs_planned": plan.n_pairs, "plan": plan.name}
