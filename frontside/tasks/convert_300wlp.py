"""Prefect tasks of the 300W-LP converter: plan the pair list once, then convert it shard by shard.

The plan is a JSON file under the output folder (named by the digest of its pair list), so shard tasks take
a path and two indices, never arrays, and a resumed run converts exactly the same pairs into the same shards.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field

import fsspec
import numpy as np
from prefect import task

from frontside.datasets.generation import face_rng
from frontside.datasets.shards import (
    ShardInfo,
    join,
    shard_is_valid,
    shard_name,
    write_bytes_atomic,
    write_shard,
    write_uv_regions,
)
from frontside.errors import InputFormatError

# A spawn key keeps the pairing stream apart from every per-pair stream SeedSequence([seed, i]).
PAIRING_SPAWN_KEY = (0x300,)


@dataclass(frozen=True)
class Plan300WLP:
    """What the planning step found. name: the plan JSON's file name under `out`; digest: sha256 of the pairs."""

    name: str
    n_images: int
    n_pairs: int
    skipped: dict[str, int]
    digest: str
    model_name: str


@dataclass(frozen=True)
class Shard300WLP:
    """One shard: its `ShardInfo`, whether a valid copy was kept, and pairs dropped for unreadable inputs."""

    info: ShardInfo
    skipped: bool
    broken: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=2)
def _model(model_spec: str):
    # A full BFM takes seconds to load; one copy per worker process serves all its shards.
    from frontside.facemodel import load_model

    return load_model(model_spec)


def pairing_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=PAIRING_SPAWN_KEY))


def plan_pairs(root: str, out: str, seed: int, model_spec: str, limit: int | None = None) -> Plan300WLP:
    """Scan `root`, pair front with side views (thesis 4.3.4) and write the plan JSON under `out`."""
    from frontside.datasets.w300lp import pair_items, scan_300wlp, skipped_counts

    model = _model(model_spec)
    items = scan_300wlp(root, model=model)
    pairs = pair_items(items, pairing_rng(seed))
    if limit is not None:
        pairs = pairs[: max(int(limit), 0)]
    rows = [[f.subset, f.name, s.subset, s.name] for f, s in pairs]
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    skipped = skipped_counts(items)
    name = f"300wlp-plan-{digest[:16]}.json"
    body = {"root": str(root), "seed": int(seed), "model": model.name, "n_images": len(items),
            "skipped": skipped, "digest": digest, "pairs": rows}
    write_bytes_atomic(join(out, name), json.dumps(body, indent=1, sort_keys=True).encode())
    return Plan300WLP(name, len(items), len(rows), skipped, digest, model.name)


def convert_shard(root: str, out: str, plan_name: str, index: int, start: int, stop: int, model_spec: str,
                  seed: int, expected: ShardInfo | None = None) -> Shard300WLP:
    """Write pairs [start, stop) of the plan as `shard-<index>.parquet`, unless a valid copy is already there.

    Pair i draws its crop jitter from SeedSequence([seed, i]). A pair whose image or fit cannot be read is
    dropped and named in `broken` (the scan already dropped images without a readable .mat).
    """
    from frontside.datasets.w300lp import item_for, make_300wlp_pair

    if expected is not None and shard_is_valid(out, expected):
        return Shard300WLP(expected, True)
    with fsspec.open(join(out, plan_name), "r") as fh:
        plan = json.load(fh)
    model = _model(model_spec)
    pairs = []
    broken: list[str] = []
    for i in range(start, stop):
        fs, fn, ss, sn = plan["pairs"][i]
        try:
            pairs.append(make_300wlp_pair(item_for(root, fs, fn), item_for(root, ss, sn), model,
                                          face_rng(seed, i), face_index=i, seed=seed))
        except InputFormatError as exc:
            broken.append(str(exc))
    return Shard300WLP(write_shard(join(out, shard_name(index)), pairs), False, broken)


def write_model_uv_regions(out: str, model_spec: str) -> str:
    """uv_regions.png beside the shards (the loss weight mask is built from it); returns its URL."""
    from frontside.facemodel.regions import uv_region_map

    model = _model(model_spec)
    return write_uv_regions(out, uv_region_map(model.uv, model.triangles, model.regions, landmarks=model.landmarks))


plan_300wlp_task = task(name="plan-300wlp")(plan_pairs)
convert_300wlp_shard_task = task(name="convert-300wlp-shard", retries=1, retry_delay_seconds=1,
                                 task_run_name="shard-{index:05d}")(convert_shard)
write_uv_regions_300wlp_task = task(name="write-uv-regions-300wlp")(write_model_uv_regions)
