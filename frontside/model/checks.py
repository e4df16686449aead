"""Is this file a checkpoint a command can use? A frontside checkpoint, of a known arch, whose weights fit it.

Checked without building the real network: its layers are made on torch's meta device (shapes, no memory,
no initialisation), so the check costs little more than reading the file.
"""

from __future__ import annotations

import os

import torch

from frontside import checks
from frontside.errors import DataIntegrityError
from frontside.model.checkpoint import load_checkpoint


def check_checkpoint(path: str | os.PathLike, name: str = "checkpoint") -> dict:
    """The checkpoint's state when it is usable; otherwise InputFormatError or DataIntegrityError naming the
    file and the field (`arch`, `width`, `model`). `name` is the parameter that gave the path."""
    from frontside.model.registry import ARCHS, build

    path = checks.input_file(name, path)
    try:
        state = load_checkpoint(path)
    except DataIntegrityError as exc:
        cause = exc.__context__
        # torch's own message would advise weights_only=False, i.e. running code from an untrusted file: never
        reason = f"torch cannot read it: {type(cause).__name__}" if cause is not None else str(exc).split(": ", 1)[-1]
        raise DataIntegrityError(f"{path}: not a frontside checkpoint ({reason})") from None
    arch = state["arch"]
    if arch not in ARCHS:
        raise DataIntegrityError(f"{path}: field 'arch': {arch!r} is not one of {', '.join(ARCHS)}")
    try:
        with torch.device("meta"):
            expected = build(arch, float(state.get("width", 1.0)), decoder_norm=state.get("decoder_norm")).state_dict()
    except (TypeError, ValueError) as exc:
        raise DataIntegrityError(f"{path}: fields 'width'/'decoder_norm': {exc}") from None
    given = state["model"]
    if not isinstance(given, dict) or not all(isinstance(v, torch.Tensor) for v in given.values()):
        raise DataIntegrityError(f"{path}: field 'model': not a dict of tensors")
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    reshaped = [k for k in expected if k in given and tuple(given[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or reshaped:
        example = (missing or unexpected or reshaped)[0]
        raise DataIntegrityError(f"{path}: field 'model': the weights do not fit a {arch} network ({len(missing)} "
                                 f"missing, {len(unexpected)} unexpected, {len(reshaped)} of another shape; "
                                 f"e.g. {example})")
    broken = [k for k, v in given.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise DataIntegrityError(f"{path}: field 'model': {len(broken)} tensors hold NaN or infinity "
                                 f"(e.g. {broken[0]}): a diverged run")
    return state
