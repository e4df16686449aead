"""`frontside convert-300wlp`: 300W-LP photos + BFM fits -> front/side pair shards (thesis 4.2.2, 4.3.4)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "convert-300wlp",
        help="pair 300W-LP front and side photos of a person into training shards with position maps",
        description="Scan a 300W-LP folder (AFW, HELEN, IBUG, LFPW and their _Flip twins), pair every front "
        "image (|yaw| <= 45) with a side image (45 < |yaw| <= 100) of the same person, and write Parquet "
        "shards plus manifest.json like `frontside generate`. Images without a readable .mat are skipped "
        "and named in the manifest. Fits made for another model, or a tree with no pair, are errors. "
        "Rerunning keeps valid shards.",
    )
    p.add_argument("--root", required=True, help="the 300W_LP folder")
    p.add_argument("--model", dest="model_spec", required=True,
                   help="face model the fits refer to: bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--shard-size", type=int, default=256, help="pairs per shard (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pairing and crop jitter")
    p.add_argument("--workers", type=int, default=1, help="shards converted in parallel (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="convert only the first N planned pairs")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside import checks
    from frontside.datasets.driver import check_dataset
    from frontside.datasets.w300lp_source import W300LPSource

    checks.task_runner(args.workers)
    source = W300LPSource(root=args.root, model_spec=args.model_spec, seed=args.seed, shard_size=args.shard_size,
                          limit=args.limit)
    check_dataset(source, args.out, in_process=False)  # scan, model, pairs: all before Prefect starts

    from frontside.cli.prefect_server import guarded_server
    from frontside.flows.convert_300wlp import convert_300wlp
    from frontside.flows.generate import task_runner

    with guarded_server():
        manifest = convert_300wlp.with_options(task_runner=task_runner(args.workers))(
            root=args.root, out=args.out, shard_size=args.shard_size, seed=args.seed, model_spec=args.model_spec,
            limit=args.limit, progress=True)
    print(f"manifest: {manifest}")
    return 0
