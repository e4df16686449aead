"""`frontside smoke`: one random built-in face -> its position map as a picture, and the face as OBJ.

The quickest end-to-end check of the numeric core (face model, transforms, posmap, mesh I/O): no renderer,
no Prefect, no torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("smoke", help="write a random built-in face as OBJ and its UV position map as PNG")
    p.add_argument("--out", default="smoke-output", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--yaw", type=float, default=20.0, help="head yaw in degrees")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside import checks
    from frontside.errors import ParameterError

    checks.integer("seed", args.seed, minimum=0)
    if not -90 <= checks.finite_number("yaw", args.yaw) <= 90:
        raise ParameterError("yaw", f"must be within -90..90 degrees, got {args.yaw:g}")
    out = checks.output_folder("out", args.out)
    if "://" in out:
        raise ParameterError("out", f"{out}: smoke writes to a local folder")
    from frontside.synthesis.smoke import write_smoke

    paths = write_smoke(Path(out), seed=args.seed, yaw=args.yaw)
    for label, path in paths.items():
        print(f"{label}: {path}")
    return 0
