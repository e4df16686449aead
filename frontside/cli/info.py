"""`frontside info DIR`: a dataset's manifest in brief, and every shard validated (exit 1 if any is not)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="summarise a dataset's manifest and validate every shard",
                       description="Print what the dataset's manifest.json records (rows, shards, parameters, "
                       "code version) and read every shard it lists, checking its sha256, row count and format. "
                       "Exits 1 when a shard is missing or does not match.")
    p.add_argument("root", metavar="DIR", help="dataset folder or fsspec URL")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from frontside.store.info import check_shard, summary
    from frontside.store.manifest import Manifest

    manifest = Manifest.load(args.root)
    checks, first = [], None
    for name in tqdm(sorted(manifest.shards), desc="shards", unit="shard", leave=False):
        check, table = check_shard(args.root, name, manifest)
        checks.append(check)
        first = first if first is not None else table
    print("\n".join(summary(args.root, manifest, first)))
    bad = [c for c in checks if c.problem]
    print(f"shards: {len(checks) - len(bad)} of {len(checks)} valid")
    for check in bad:
        print(f"  INVALID {check.problem}")
    return 1 if bad else 0
