"""The `frontside` command line: one subcommand per flow.

Each subcommand lives in its own module under `frontside/cli/` and exposes
`register(subparsers) -> argparse.ArgumentParser`, setting `func(args) -> int` as the parser default.
Modules import their heavy dependencies (torch, prefect, pyrender) inside `func`, and check their arguments and
inputs before importing them, so `--help` and a bad argument answer at once.

Every failure is one line on stderr, `frontside <command>: error: <flag or file>: <problem>`, and an exit code:
2 for a command line that cannot work (argparse's errors, `ParameterError`), 1 for a bad input file, dataset or
run (`FrontsideError`) or an unexpected error, 130 on Ctrl-C, 143 on SIGTERM. `--debug` (anywhere on the line)
or FRONTSIDE_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys

from frontside.errors import ParameterError, one_line

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
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the flag (`--faces: invalid int value: 'x'`), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message.removeprefix('argument ')}\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that `finally` blocks, atexit handlers (Prefect's ephemeral
    server) and the dataset lock all unwind as on Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="frontside",
        description="Synthetic front/side face pairs, a two-view position-map network, and its evaluation.",
        epilog="--debug (anywhere) or FRONTSIDE_DEBUG=1: show tracebacks instead of one-line errors.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = {}
    for name in COMMAND_MODULES:
        module_name = f"frontside.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        command = importlib.import_module(module_name).register(sub)
        parser.commands[command.prog.split()[-1]] = command
    return parser


def flag_for(command: argparse.ArgumentParser | None, name: str) -> str:
    """The flag that sets parameter `name` in `command` (`n_faces` -> `--faces`), else `name` itself."""
    for action in getattr(command, "_actions", []):
        if action.dest == name and action.option_strings:
            positive = [s for s in action.option_strings if not s.startswith("--no-")] or action.option_strings
            return max(positive, key=len)
    return name


def describe(exc: BaseException, command: argparse.ArgumentParser | None) -> str:
    """The one line printed after `frontside <command>: error: `."""
    if isinstance(exc, ParameterError):
        return f"{flag_for(command, exc.name)}: {' '.join(exc.problem.split())}"
    return one_line(exc)


def show_library_logs() -> None:
    """The package logs through `logging` (never print); a command shows its INFO lines and above on stderr,
    one line each, as it always showed its notes. Only here: they do not go on to the root logger, where Prefect's
    console handler (installed once a command imports Prefect's flows) would print each a second time."""
    import logging

    logger = logging.getLogger("frontside")
    if not any(getattr(h, "frontside_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.frontside_cli = True
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def debugging(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("FRONTSIDE_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debugging(argv)
    argv = [a for a in argv if a != "--debug"]
    # Prefect's ephemeral server would try to send telemetry (and log an error offline) unless told not to
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = debug  # commands that run flows keep Prefect's run failures off the console unless debugging
    show_library_logs()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    command = parser.commands.get(args.command)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except Terminated:
        print(f"frontside {args.command}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"frontside {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        hint = "" if getattr(exc, "exit_code", None) else " (--debug shows the traceback)"
        print(f"frontside {args.command}: error: {describe(exc, command)}{hint}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
