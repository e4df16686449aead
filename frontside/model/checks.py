"""Is this file a checkpoint a command can use? A frontside checkpoint, of a known arch, whose weights fit it.

A file that is not even the zip archive torch.save writes is refused before torch is imported; a checkpoint is
then read with weights_only=True (never running code from the file) and its weights are compared, name by name
and shape by shape, with a freshly built network of its arch (0.3 s for the thesis's network).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from frontside import checks
from frontside.errors import DataIntegrityError


def _torch_archive_problem(path: Path) -> str | None:
    """Why `path` cannot be a torch.save file (a zip archive holding a data.pkl), or None."""
    if not zipfile.is_zipfile(path):
        return "not the zip archive torch.save writes (truncated, or another kind of file)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        return f"a damaged archive ({exc})"
    if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return "a zip archive, but not one torch.save wrote (no data.pkl)"
    return None


def checkpoint_file(path: str | os.PathLike, name: str = "checkpoint") -> Path:
    """`path` when it exists and is a torch.save archive (checked without importing torch)."""
    path = checks.input_file(name, path)
    problem = _torch_archive_problem(path)
    if problem:
        raise DataIntegrityError(f"{path}: not a frontside checkpoint ({problem})")
    return path


def check_checkpoint(path: str | os.PathLike, name: str = "checkpoint") -> dict:
    """The checkpoint's state when it is usable; otherwise InputFormatError or DataIntegrityError naming the
    file and the field (`arch`, `width`, `model`). `name` is the parameter that gave the path."""
    path = checkpoint_file(path, name)
    import torch

    from frontside.model.checkpoint import load_checkpoint
    from frontside.model.registry import ARCHS, build

    try:
        state = load_checkpoint(path)
    except DataIntegrityError as exc:
        cause = exc.__context__
        if cause is None:
            raise  # our own message: the file loaded but is not ours
        # torch's message would advise weights_only=False, i.e. running code from an untrusted file: never
        raise DataIntegrityError(f"{path}: not a frontside checkpoint (torch cannot read it: "
                                 f"{type(cause).__name__})") from None
    arch = state["arch"]
    if arch not in ARCHS:
        raise DataIntegrityError(f"{path}: field 'arch': {arch!r} is not one of {', '.join(ARCHS)}")
    try:
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
