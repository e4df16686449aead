"""Is this file a checkpoint a command can use? A frontside checkpoint, of a known arch, whose weights fit it.

A file that is not even the zip archive torch.save writes is refused before torch is imported; a checkpoint is
then read with weights_only=True (never running code from the file) and its network rebuilt from it.
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
    """The checkpoint's state when it is usable: a frontside checkpoint (read with weights_only=True) of a known
    arch whose weights rebuild its network and hold no NaN. Otherwise DataIntegrityError or InputFormatError
    naming the file and the field. `name` is the parameter that gave the path."""
    path = checkpoint_file(path, name)
    import torch

    from frontside.model.checkpoint import load_checkpoint, network_from_checkpoint
    from frontside.model.registry import ARCHS

    state = load_checkpoint(path)  # its errors name the file and never advise weights_only=False
    arch = state["spec"].get("arch") if isinstance(state["spec"], dict) else None
    if arch not in ARCHS:
        raise DataIntegrityError(f"{path}: field 'arch': {arch!r} is not one of {', '.join(ARCHS)}")
    network_from_checkpoint(state, path)  # the weights must load into the network the spec describes
    broken = [k for k, v in state["model"].items()
              if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise DataIntegrityError(f"{path}: field 'model': {len(broken)} tensors hold NaN or infinity "
                                 f"(e.g. {broken[0]}): a diverged run")
    return state
