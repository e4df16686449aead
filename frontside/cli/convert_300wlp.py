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
        "and counted in the manifest. Rerunning keeps valid shards.",
    )
    p.add_argument("--root", required=True, help="the 300W_LP folder")
    p.add_argument("--model", required=True,
                   help="face model the fits refer to: bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--shard-size", type=int, default=256, help="pairs per shard (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pairing and crop jitter")
    p.add_argument("--workers", type=int, default=1, help="shards converted in parallel (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="convert only the first N planned pairs")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from frontside.datasets.w300lp import SUBSETS
    from frontside.errors import InputFormatError

    root = Path(args.root)
    # Fail before Prefect starts (seconds) when the folder is plainly not 300W-LP.
    if not any((root / s).is_dir() or (root / f"{s}_Flip").is_dir() for s in SUBSETS):
        raise InputFormatError(root, "layout", f"no 300W-LP subset folder found (expected some of {', '.join(SUBSETS)})")
    if args.shard_size < 1:
        raise InputFormatError("--shard-size", "value", f"must be >= 1, got {args.shard_size}")

    from frontside.flows.convert_300wlp import convert_300wlp
    from frontside.flows.generate import task_runner

    runner = task_runner(max(1, args.workers))
    manifest = convert_300wlp.with_options(task_runner=runner)(
        root=str(root), out=str(args.out), shard_size=args.shard_size, seed=args.seed,
        model_spec=args.model, limit=args.limit,
    )
    print(f"manifest: {manifest}")
    return 0
