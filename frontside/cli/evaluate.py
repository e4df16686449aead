"""`frontside evaluate`: NME per face after ICP, CED curves and a report for one or more checkpoints."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="evaluate checkpoints (NME after ICP, CED plot, report)")
    p.add_argument("--checkpoint", dest="checkpoints", action="append", required=True,
                   help="a best.pt/last.pt (repeat for several)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", action="append", help="held-out shard folder (repeatable)")
    group.add_argument("--florence", help="MICC Florence root (subject_XX/Model/frontal1/obj/*.obj)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--max-faces", type=int, default=None)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside.evaluation.checks import check_evaluation, check_evaluation_numbers

    check_evaluation_numbers(args.out, args.max_faces)  # no torch yet: a bad number answers at once
    check_evaluation(args.checkpoints, args.out, args.data, args.florence, args.max_faces)

    from frontside.cli.prefect_server import guarded_server
    from frontside.flows.evaluate import evaluate_models

    with guarded_server():
        report = evaluate_models(checkpoints=args.checkpoints, out=args.out, data=args.data,
                                 florence=args.florence, max_faces=args.max_faces)
    print(f"report written: {report}")
    return 0
