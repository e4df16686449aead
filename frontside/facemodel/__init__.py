"""Morphable face models: the record, the built-in model and the BFM loader."""

from __future__ import annotations

from frontside.errors import InputFormatError
from frontside.facemodel.model import (
    REGION_WEIGHTS,
    Coefficients,
    FaceMesh,
    MorphableModel,
    Region,
)


def load_model(spec: str) -> MorphableModel:
    """A model from a spec: "builtin", "bfm:/path/BFM.mat" or "bfm:/path/BFM.mat,uv=/path/BFM_UV.mat"."""
    if spec == "builtin":
        from frontside.facemodel.builtin import load_builtin

        return load_builtin()
    if spec.startswith("bfm:"):
        from frontside.facemodel.bfm import load_bfm

        parts = spec[len("bfm:"):].split(",")
        options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        unknown = set(options) - {"uv"}
        if unknown:
            raise InputFormatError(spec, "model spec", f"unknown option(s) {sorted(unknown)}; only uv=PATH is known")
        return load_bfm(parts[0], options.get("uv"))
    raise InputFormatError(spec, "model spec", "unknown; use 'builtin' or 'bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]'")


__all__ = ["REGION_WEIGHTS", "Coefficients", "FaceMesh", "MorphableModel", "Region", "load_model"]
