"""The `frontside` command line: one subcommand per flow.

Each subcommand lives in its own module under `frontside/cli/` and exposes
`register(subparsers) -> argparse.ArgumentParser`, setting `func(args) -> int` as the parser default.
Modules import their heavy dependencies (torch, prefect, pyrender) inside `func`, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from frontside.errors import FrontsideError

# Order is the order `frontside --help` lists them in.
COMMAND_MODULES = [
    "demo",
    "smoke",
    "preview",
    "generate",
    "info",
    "convert_300wlp",
    "train",
    "evaluate",
    "reconstruct",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontside",
        description="Synthetic front/side face pairs, a two-view position-map network, and its evaluation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"frontside.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except FrontsideError as exc:
        print(f"frontside {args.command}: error: {exc}", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
