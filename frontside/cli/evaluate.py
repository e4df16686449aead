"""`frontside evaluate`: NME per face after ICP, CED curves and a report for one or more checkpoints. Flags are
`EvaluateConfig`'s fields."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from frontside.configs import add_flags
    from frontside.evaluation.config import EvaluateConfig

    p = sub.add_parser("evaluate", help="evaluate checkpoints (NME after ICP, CED plot, report)")
    add_flags(p, EvaluateConfig)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside.configs import from_flags
    from frontside.evaluation.checks import check_evaluation, check_evaluation_numbers
    from frontside.evaluation.config import EvaluateConfig

    config = from_flags(EvaluateConfig, args)
    check_evaluation_numbers(config.out, config.max_faces)  # no torch yet: a bad number answers at once
    from dataclasses import replace

    from frontside.learning.ensemble import resolve_checkpoints

    config = replace(config, checkpoints=[resolve_checkpoints(c) for c in config.checkpoints])  # shipped:NAME
    check_evaluation(config)

    from frontside.cli.prefect_server import guarded_server
    from frontside.orchestration.flows.evaluate import evaluate_models

    with guarded_server(debug=args.debug):
        report = evaluate_models(config)
    print(f"report written: {report}")
    return 0
