"""Config dataclasses drive the command line: one flag per field, generated from the field itself.

A command's configuration is a dataclass (`GenerateConfig`, `TrainConfig`, `EvaluateConfig`, ...). Its fields
are the one home of every default; `cli(...)` in a field's metadata gives its flag's help and, where the flag is
not `--field-name`, its spelling. `add_flags` adds a flag for every field to an argparse parser (dest = the
field's name, so a `ParameterError` naming the field is shown with its flag), `from_flags` builds the config
from the parsed flags, and `from_mapping` from a mapping (a deployment's parameters), refusing unknown keys by
name. The flows take the same objects, so the command line, the flows and `prefect.yaml` cannot drift apart.

Types map to flags as a researcher expects: `int`, `float`, `str` take a value (`X | None` too, default None);
`bool` is `--flag / --no-flag`; `list[str]` repeats (`--data A --data B`); `choices` where a field has a fixed
set. Fields marked `cli(hidden=True)` are the flows' (e.g. `progress`) and get no flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from frontside.errors import ParameterError

_KEY = "frontside.cli"


def cli(help: str = "", *, flag: str | None = None, choices: typing.Sequence | None = None,
        hidden: bool = False, metavar: str | None = None) -> dict:
    """Field metadata for `add_flags`: `field(default=..., metadata=cli("help text", flag="--faces"))`."""
    return {_KEY: {"help": help, "flag": flag, "choices": tuple(choices) if choices is not None else None,
                   "hidden": hidden, "metavar": metavar}}


def _meta(f: dataclasses.Field) -> dict:
    return f.metadata.get(_KEY, {"help": "", "flag": None, "choices": None, "hidden": False, "metavar": None})


def _unwrap_optional(tp) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _metavar(tp, f: dataclasses.Field) -> str:
    return {int: "N", float: "X"}.get(tp) or flag_of(f).lstrip("-").replace("-", "_").upper()


def flag_of(f: dataclasses.Field) -> str:
    """The command-line spelling of a field."""
    return _meta(f)["flag"] or "--" + f.name.replace("_", "-")


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def flag_fields(config_type: type) -> list[dataclasses.Field]:
    """The fields of `config_type` that have a flag (all but the hidden ones)."""
    return [f for f in dataclasses.fields(config_type) if not _meta(f)["hidden"]]


def add_flags(parser: argparse.ArgumentParser, config_type: type, *, exclude: typing.Iterable[str] = (),
              groups: Mapping[str, Any] | None = None) -> None:
    """One flag per field of the dataclass `config_type` (but `exclude`); `groups` maps a field name to an
    argparse group (e.g. a mutually exclusive one) to add its flag to."""
    hints = typing.get_type_hints(config_type)
    groups = groups or {}
    for f in flag_fields(config_type):
        if f.name in exclude:
            continue
        meta = _meta(f)
        tp, optional = _unwrap_optional(hints[f.name])
        default = default_of(f)
        required = default is dataclasses.MISSING
        target = groups.get(f.name, parser)
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"].replace("%", "%%") or None,
                                  "metavar": meta["metavar"] or _metavar(tp, f)}
        if tp is bool:
            if required:
                raise TypeError(f"{config_type.__name__}.{f.name}: a bool field needs a default")
            flag = flag_of(f)
            if flag.startswith("--no-"):  # a negative spelling: the flag turns the field off
                kwargs.pop("metavar", None)
                target.add_argument(flag, action="store_false", default=default, **kwargs)
            else:
                target.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, **kwargs)
            continue
        if typing.get_origin(tp) in (list, tuple):
            (item,) = typing.get_args(tp)[:1]
            kwargs.update(action="append", type=item, default=None)
            if kwargs["help"]:
                kwargs["help"] += " (repeat for several)"
            if required and f.name not in groups:
                kwargs["required"] = True
            target.add_argument(flag_of(f), **kwargs)
            continue
        if tp not in (int, float, str):
            raise TypeError(f"{config_type.__name__}.{f.name}: no flag for type {tp!r}")
        kwargs["type"] = tp
        if meta["choices"] is not None:
            kwargs["choices"] = [c for c in meta["choices"] if c is not None]
            kwargs.pop("metavar")
        if required:
            if f.name not in groups:
                kwargs["required"] = True
        else:
            kwargs["default"] = default
            if default is not None and kwargs["help"]:
                kwargs["help"] += " (default: %(default)s)"
        target.add_argument(flag_of(f), **kwargs)


def from_flags(config_type: type, args: argparse.Namespace, **overrides) -> Any:
    """The config from parsed flags (fields without a flag keep their defaults), with `overrides` applied."""
    values = {}
    for f in dataclasses.fields(config_type):
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif hasattr(args, f.name):
            value = getattr(args, f.name)
            if value is None and typing.get_origin(_unwrap_optional(typing.get_type_hints(config_type)[f.name])[0]) \
                    in (list, tuple):
                value = default_of(f)
                if value is dataclasses.MISSING:
                    value = []
            values[f.name] = value
    return config_type(**values)


def from_mapping(config_type: type, values: Mapping[str, Any], where: str = "parameters") -> Any:
    """The config from a mapping (a deployment's parameters): an unknown or missing key is a ParameterError
    naming it and `where`."""
    names = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ParameterError(unknown[0], f"{where}: not a field of {config_type.__name__} "
                                         f"(fields: {', '.join(sorted(names))})")
    missing = [f.name for f in dataclasses.fields(config_type)
               if default_of(f) is dataclasses.MISSING and f.name not in values]
    if missing:
        raise ParameterError(missing[0], f"{where}: required by {config_type.__name__}")
    return config_type(**values)
