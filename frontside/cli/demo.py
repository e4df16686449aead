"""`frontside demo`: the whole mission, small, on the built-in model, on CPU, in under ten minutes."""

from __future__ import annotations

import argparse
import time

from frontside.flows.demo_config import DemoConfig


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="generate, train two-view and front-only, evaluate, report (small, CPU)")
    defaults = DemoConfig()
    p.add_argument("--out", default=defaults.out)
    p.add_argument("--train-faces", type=int, default=defaults.train_faces)
    p.add_argument("--test-faces", type=int, default=defaults.test_faces)
    p.add_argument("--steps", type=int, default=defaults.steps_per_model,
                   help="training steps per model (the same for both)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside import checks
    from frontside.errors import ParameterError

    checks.integer("train_faces", args.train_faces, minimum=2)
    checks.integer("test_faces", args.test_faces, minimum=1)
    checks.integer("steps", args.steps, minimum=1)
    checks.integer("batch_size", args.batch_size, minimum=1)
    checks.integer("seed", args.seed, minimum=0)
    out = checks.output_folder("out", args.out)
    if "://" in out:
        raise ParameterError("out", f"{out}: the demo writes to a local folder")

    from frontside.cli.prefect_server import guarded_server
    from frontside.flows.pipeline import demo

    started = time.perf_counter()
    with guarded_server():
        report = demo(out=out, train_faces=args.train_faces, test_faces=args.test_faces,
                      steps_per_model=args.steps, batch_size=args.batch_size, seed=args.seed)
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min")
    print(f"report: {report}")
    with open(report) as fh:
        print(fh.read())
    return 0
