"""`frontside generate`: the main job, a synthetic dataset as Parquet shards, resumable."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("generate", help="generate synthetic front/side pairs as Parquet shards (resumable)")
    p.add_argument("--faces", type=int, required=True, help="number of faces (one pair each)")
    p.add_argument("--shard-size", type=int, default=16, help="pairs per shard (default: %(default)s)")
    p.add_argument("--out", required=True, help="dataset folder or fsspec URL")
    p.add_argument("--source", default="builtin", help="builtin | bfm:PATH[,uv=PATH] | facegen")
    p.add_argument("--backgrounds", default=None, help="DTD folder (images/<category>/*.jpg)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="threads for shard tasks (default: %(default)s)")
    p.add_argument("--dask-address", default=None, help="run shard tasks on a Dask cluster, e.g. tcp://host:8786")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside.flows.generate import run_generate

    renderer = "facegen" if args.source == "facegen" else "pyrender"
    result = run_generate(workers=args.workers, dask_address=args.dask_address, n_faces=args.faces,
                          shard_size=args.shard_size, out=args.out, source=args.source,
                          backgrounds=args.backgrounds, seed=args.seed, renderer=renderer, progress=True)
    print(f"{result['rows']} pairs in {result['shards']} shards at {result['out']}")
    return 0
