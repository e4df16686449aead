"""Checkpoints: plain dicts of tensors, strings and numbers, written atomically, read with weights_only=True.

A checkpoint is self-describing: besides the weights it holds the `NetworkSpec` that rebuilds the network and the
face model's UV layout it was trained on (`basis`: size, region labels, landmark UVs, and for structured networks
the mean and components it composes from), so inference needs neither the dataset nor the face model file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from frontside.errors import DataIntegrityError
from frontside.facemodel.uv_basis import UVBasis, basis_from_arrays, basis_to_arrays
from frontside.io import write_atomic
from frontside.learning.checkpoint.format import FORMAT
from frontside.learning.checkpoint.reader import stored_arrays
from frontside.learning.checkpoint.validation import check_checkpoint_file, check_state, weights_fit_problem


def save_checkpoint(path: str | os.PathLike, *, network: torch.nn.Module, face_model: str | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, epoch: int = 0, best_val: float = float("inf"), config: dict | None = None,
                    history: list | None = None, position: dict | None = None) -> Path:
    """Write a checkpoint of `network` (from `registry.build`, which carries its `.spec` and `.basis`) to a
    temporary file beside `path`, then rename it into place. `face_model`: the spec of the face model its basis
    came from ("builtin", "bfm:/path"; the file's key is "model_spec", its weights' "model"). `position`: where in
    the epoch after `epoch` a run stands when it saves mid-epoch (step, the epoch's losses so far; plain values)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec, basis = network.spec, network.basis
    state = {
        "format": FORMAT,
        "arch": spec.arch,
        "spec": spec.as_dict(),
        "basis": {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
                  for k, v in basis_to_arrays(basis).items()},
        "model_spec": face_model,
        "model": network.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "epoch": int(epoch),
        "best_val": float(best_val),
        "config": dict(config or {}),
        "history": list(history or []),
        "position": dict(position or {}),
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
        raise DataIntegrityError(f"{path}: not a readable frontside checkpoint ({type(exc).__name__})") from None
    return check_state(state, path)


def checkpoint_basis(state: dict) -> UVBasis | None:
    """The UV basis a checkpoint was trained on, or None when it has none."""
    stored = state.get("basis")
    if stored is None:
        return None
    return basis_from_arrays({k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in stored.items()})


def network_from_checkpoint(state: dict, path: str | os.PathLike = "checkpoint",
                            weights: bool = True) -> torch.nn.Module:
    """The network a checkpoint holds, rebuilt from its spec and basis, weights loaded; an error naming the file
    and the field when they do not fit each other. weights=False: the network is only checked against the
    weights' names and shapes (`state["model"]` may then hold anything with a .shape, e.g.
    `checks.StoredTensor`), not loaded. (Not built on the meta device: initialising meta tensors imports
    torch._dynamo, 1-3 s, far more than initialising these networks on the CPU.)"""
    from frontside.learning.networks.registry import NetworkSpec, build

    try:
        spec = NetworkSpec.from_dict(state["spec"])
        network = build(spec, checkpoint_basis(state))
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataIntegrityError(f"{path}: field 'spec' does not describe a network ({first})") from None
    problem = weights_fit_problem(network.state_dict(), state["model"])
    if problem:
        raise DataIntegrityError(f"{path}: field 'model' does not fit field 'spec' ({problem})")
    if weights:
        network.load_state_dict(state["model"])
    return network


def check_weights_fit(state: dict, path: str | os.PathLike) -> None:
    """The one check that needs torch: the weights of `state` (as `check_checkpoint_file` gives it) fit the
    network its spec describes (names and shapes); DataIntegrityError naming the file otherwise."""
    basis = state.get("basis")
    network_from_checkpoint({**state, "basis": stored_arrays(basis) if isinstance(basis, dict) else basis}, path,
                            weights=False)


def check_checkpoint(path: str | os.PathLike, name: str = "checkpoint") -> dict:
    """`check_checkpoint_file`, then `check_weights_fit`. Returns the checkpoint as `read_checkpoint` gives it.
    `name` is the parameter that gave the path."""
    state = check_checkpoint_file(path, name)
    check_weights_fit(state, path)
    return state
