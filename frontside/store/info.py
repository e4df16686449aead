"""What `frontside info DIR` reports: a dataset's manifest in brief, and every shard checked."""

from __future__ import annotations

from dataclasses import dataclass

from frontside.errors import DataIntegrityError
from frontside.io import join
from frontside.store.manifest import Manifest
from frontside.store.shards import read_shard, shard_format, shard_size, views_per_row


@dataclass(frozen=True)
class ShardCheck:
    """One shard against the manifest: `problem` is None when its sha256, rows and format are right."""

    name: str
    rows: int
    problem: str | None = None


def check_shard(root: str, name: str, manifest: Manifest) -> tuple[ShardCheck, object | None]:
    """(check, the shard's table or None): reads the whole shard (sha256, Parquet, format, rows)."""
    info = manifest.shards[name]
    try:
        table = read_shard(join(root, name), info)
    except DataIntegrityError as exc:
        return ShardCheck(name, info.rows, str(exc)), None
    return ShardCheck(name, info.rows), table


def summary(root: str, manifest: Manifest, first_table=None) -> list[str]:
    """Lines describing the dataset: rows, shards, bytes, parameters, size and columns (from a shard's table)."""
    nbytes = sum(s.nbytes for s in manifest.shards.values())
    lines = [f"{root}: {manifest.rows} faces in {len(manifest.shards)} shards, {nbytes / 1e6:.1f} MB "
             f"({nbytes / max(manifest.rows, 1) / 1e3:.0f} KB per face)",
             f"made by frontside {manifest.code_version or '(unknown version)'}, shard format {manifest.format}"]
    lines += [f"  {key}: {value}" for key, value in sorted(manifest.parameters.items())]
    model = manifest.inputs.get("model") or {}
    if model.get("sha256"):
        lines.append(f"  face model content: sha256 {model['sha256'][:16]}... (checked when the dataset is read)")
    if manifest.runs:
        lines.append(f"  runs: {len(manifest.runs)}, the last by frontside {manifest.runs[-1].get('code_version')}")
    if manifest.extra:
        lines.append(f"  run: {manifest.extra}")
    if first_table is not None:
        size, views = shard_size(first_table), sorted(set(views_per_row(first_table)))
        lines.append(f"views a face: {', '.join(map(str, views))} (the front, then side views; first shard, format "
                     f"{shard_format(first_table)})")
        lines.append(f"images and position maps: {size} x {size}; columns: {', '.join(first_table.column_names)}")
    return lines
