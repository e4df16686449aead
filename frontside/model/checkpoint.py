"""Checkpoints: plain dicts of tensors and numbers, written atomically, read with weights_only=True."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from frontside.errors import DataIntegrityError
from frontside.io import write_atomic

FORMAT = 2  # 2: networks rebuilt to the thesis's Keras layout (format 1's layers no longer exist)


def save_checkpoint(path: str | os.PathLike, *, arch: str, model: torch.nn.Module, width: float = 1.0,
                    decoder_norm: str | None = None,
                    optimizer: torch.optim.Optimizer | None = None, scheduler=None, epoch: int = 0,
                    best_val: float = float("inf"), config: dict | None = None, history: list | None = None) -> Path:
    """Write a checkpoint to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "arch": arch,
        "width": float(width),
        "decoder_norm": decoder_norm or getattr(model, "decoder_norm", None),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "epoch": int(epoch),
        "best_val": float(best_val),
        "config": dict(config or {}),
        "history": list(history or []),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return Path(write_atomic(path, buffer.getvalue()))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """The checkpoint dict. Never unpickles code: weights_only=True. A truncated or foreign file raises
    DataIntegrityError naming it."""
    path = Path(path)
    if not path.exists():
        raise DataIntegrityError(f"{path}: checkpoint does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise DataIntegrityError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "model" not in state or "arch" not in state:
        raise DataIntegrityError(f"{path}: not a frontside checkpoint (no 'arch'/'model')")
    if state.get("format") != FORMAT:
        raise DataIntegrityError(f"{path}: field 'format' is {state.get('format')}, this version reads {FORMAT} "
                                 "(retrain: the network layers changed)")
    return state
