"""`frontside demo`: the whole mission, small, on the built-in model, on CPU, in under ten minutes."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from frontside.configs import add_flags, from_flags
from frontside.orchestration.flows.demo_config import DemoConfig


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="generate, train two-view and front-only, evaluate, report (small, CPU)")
    add_flags(p, DemoConfig)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside import checks
    from frontside.errors import ParameterError

    config = from_flags(DemoConfig, args)
    checks.integer("train_faces", config.train_faces, minimum=2)
    checks.integer("test_faces", config.test_faces, minimum=1)
    checks.integer("steps_per_model", config.steps_per_model, minimum=1)
    checks.integer("shard_size", config.shard_size, minimum=1)
    checks.integer("batch_size", config.batch_size, minimum=1)
    checks.integer("seed", config.seed, minimum=0)
    checks.integer("views", config.views, minimum=2, maximum=32)
    from frontside.learning.config import run_fields

    for name in config.networks:
        run_fields(name)
    out = checks.output_folder("out", config.out)
    if "://" in out:
        raise ParameterError("out", f"{out}: the demo writes to a local folder")

    from frontside.cli.prefect_server import guarded_server
    from frontside.orchestration.flows.pipeline import demo

    started = time.perf_counter()
    with guarded_server(debug=args.debug):
        report = demo(replace(config, out=out))
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min")
    print(f"report: {report}")
    with open(report) as fh:
        print(fh.read())
    return 0
