"""Morphable face models: the record, the built-in model and the BFM loader."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from frontside.errors import InputFormatError
from frontside.facemodel.model import (
    REGION_WEIGHTS,
    Coefficients,
    FaceMesh,
    MorphableModel,
    Region,
)

SPEC_HELP = "use 'builtin' or 'bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]'"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: kind "builtin" or "bfm", and for BFM its .mat and optional UV file."""

    kind: str
    mat: Path | None = None
    uv: Path | None = None

    def __str__(self) -> str:
        """The spec with absolute paths: the same model whatever folder the command ran in."""
        if self.kind == "builtin":
            return "builtin"
        return f"bfm:{self.mat}" + (f",uv={self.uv}" if self.uv else "")

    @property
    def files(self) -> list[Path]:
        """The files the model is read from (BFM_UV.mat beside the .mat when no uv= is given)."""
        if self.kind == "builtin":
            return []
        return [self.mat, self.uv or self.mat.with_name("BFM_UV.mat")]


def parse_model_spec(spec: str) -> ModelSpec:
    """"builtin", "bfm:/path/BFM.mat" or "bfm:/path/BFM.mat,uv=/path/BFM_UV.mat"; raises ValueError saying
    what is wrong with any other string."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"a model spec must be a non-empty string ({SPEC_HELP})")
    if spec == "builtin":
        return ModelSpec("builtin")
    if not spec.startswith("bfm:"):
        raise ValueError(f"unknown face model {spec!r}; {SPEC_HELP}")
    parts = spec[len("bfm:"):].split(",")
    options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    unknown = set(options) - {"uv"} or {p for p in parts[1:] if "=" not in p}
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} in {spec!r}; only uv=PATH is known")
    if not parts[0]:
        raise ValueError(f"{spec!r} names no .mat file; {SPEC_HELP}")
    uv = options.get("uv")
    return ModelSpec("bfm", Path(parts[0]).expanduser().absolute(), Path(uv).expanduser().absolute() if uv else None)


def load_model(spec: str) -> MorphableModel:
    """A checked model (`facemodel.checks.check_model`) from a spec (see `parse_model_spec`).

    Loaded once per process for as long as its files are unchanged (a full BFM takes seconds to read).
    """
    try:
        parsed = parse_model_spec(spec)
    except ValueError as exc:
        raise InputFormatError(spec, "model spec", str(exc)) from None
    stamps = tuple((str(p), *_stamp(p)) for p in parsed.files)
    return _load(parsed, stamps)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load(spec: ModelSpec, stamps: tuple) -> MorphableModel:
    from frontside.facemodel.checks import check_model

    if spec.kind == "builtin":
        from frontside.facemodel.builtin import load_builtin

        return check_model(load_builtin(), "builtin model")
    from frontside.facemodel.bfm import load_bfm

    return load_bfm(spec.mat, spec.uv)


__all__ = ["REGION_WEIGHTS", "Coefficients", "FaceMesh", "ModelSpec", "MorphableModel", "Region", "load_model",
           "parse_model_spec"]
