"""`frontside generate`: the main job, a synthetic dataset as Parquet shards, resumable. Flags are
`GenerateConfig`'s fields (`frontside.configs`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from frontside.configs import add_flags
    from frontside.synthesis.config import GenerateConfig

    p = sub.add_parser("generate", help="generate synthetic front/side pairs as Parquet shards (resumable)")
    add_flags(p, GenerateConfig)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from frontside import checks
    from frontside.configs import from_flags
    from frontside.synthesis.config import FACEGEN, RULES, GenerateConfig

    # the flags' values first: an answer before generation's renderers and kernels are even imported
    checks.values({name: getattr(args, name) for name in RULES if hasattr(args, name)}, RULES)
    checks.task_runner(args.workers, args.dask_address)
    config = from_flags(GenerateConfig, args, progress=True)
    if config.source == FACEGEN:  # FaceGen renders its own faces, whatever --renderer says
        config = replace(config, renderer=FACEGEN)
    # every parameter and input, before Prefect starts (seconds) and before anything is written
    from frontside.store.driver import check_dataset
    from frontside.synthesis.generate import GenerateSource

    check_dataset(GenerateSource(config.params()), config.out, in_process=False)

    from frontside.cli.prefect_server import guarded_server
    from frontside.orchestration.flows.generate import run_generate

    with guarded_server(debug=args.debug):
        result = run_generate(config)
    print(f"{result['rows']} pairs in {result['shards']} shards at {result['out']}")
    return 0
