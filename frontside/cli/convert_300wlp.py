"""`frontside convert-300wlp`: 300W-LP photos + BFM fits -> front/side pair shards (thesis 4.2.2, 4.3.4)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from frontside.configs import add_flags
    from frontside.sources.w300lp_source import ConvertConfig

    p = sub.add_parser(
        "convert-300wlp",
        help="pair 300W-LP front and side photos of a person into training shards with position maps",
        description="Scan a 300W-LP folder (AFW, HELEN, IBUG, LFPW and their _Flip twins), pair every front "
        "image (|yaw| <= 45) with a side image (45 < |yaw| <= 100) of the same person, and write Parquet "
        "shards plus manifest.json like `frontside generate`. Images without a readable .mat are skipped "
        "and named in the manifest. Fits made for another model, or a tree with no pair, are errors. "
        "Rerunning keeps valid shards.",
    )
    add_flags(p, ConvertConfig)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside import checks
    from frontside.configs import from_flags
    from frontside.sources.w300lp_source import ConvertConfig
    from frontside.store.driver import check_dataset

    config = from_flags(ConvertConfig, args, progress=True)
    checks.task_runner(config.workers)
    check_dataset(config.source(), config.out, in_process=False)  # scan, model, pairs: all before Prefect starts

    from frontside.cli.prefect_server import guarded_server
    from frontside.orchestration.flows.convert_300wlp import run_convert

    with guarded_server(debug=args.debug):
        manifest = run_convert(config)
    print(f"manifest: {manifest}")
    return 0
