"""Networks that ship with frontside: trained off-line by `frontside train` on the built-in face model, stored
here as their weights alone (float16, ~3.8 MB each), and written back into an ordinary checkpoint on demand.

    write_checkpoint("multiview", "out/shipped-multiview.pt")   -> a checkpoint `evaluate` and `reconstruct` read
    frontside reconstruct --checkpoint shipped:multiview ...    -> the same, through the cache (`resolve`)

Why they ship (issue 21, measured in README "Learning"): the multi-view network reads a side photo's depth only
after ~3,800 steps at 128 px on 4,800 faces, about an hour of this 2-core CPU, far beyond `./demo`'s ten minutes;
the demo evaluates these beside the pair it trains, on its own held-out faces, so a fresh clone shows what the
side photo adds. Each file records how it was made (`card`: the data's and the training's commands, the code
version) so it can be made again (the pair here was trained at 96484ee, when `multiview`'s coefficient term
weighed 3e-3: at later code `--coefficients-sd 0.003` trains the same loss), and a digest of the face model's UV
basis it composes over, checked when the basis is rebuilt (a changed built-in model is refused, never silently
mismatched).

A shipped file: {"format", "arch", "spec", "model" (floating weights float16), "model_spec", "basis_model",
"basis_size", "basis_sha256", "epoch", "config", "history", "card"}: a checkpoint without its optimiser, its
scheduler and its basis (25 MB, rebuilt from the built-in face model in ~1.5 s). Importing this module imports
no torch (`SHIPPED` is read by flows that must not).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from frontside.errors import DataIntegrityError, ParameterError
from frontside.facemodel.uv_basis import UVBasis, basis_to_arrays
from frontside.io import cache_root, write_atomic

FOLDER = Path(__file__).parent
SHIPPED = ("multiview", "multiview-front")
SHIPPED_FORMAT = 1
PREFIX = "shipped:"  # how a command names a shipped network where it takes a checkpoint: shipped:multiview
CARD_FIELDS = ("data", "training", "code", "measured")  # what a shipped network's card must say


def shipped_path(name: str, field: str = "shipped") -> Path:
    """The shipped weights of network `name` (one of `SHIPPED`); ParameterError naming `field` otherwise."""
    if name not in SHIPPED:
        raise ParameterError(field, f"{name!r}: not a shipped network (choose one of {', '.join(SHIPPED)})")
    return FOLDER / f"{name}.pt"


def resolve(checkpoint: str, field: str = "--checkpoint") -> str:
    """`checkpoint` as given, or for "shipped:NAME" an ordinary checkpoint of that shipped network, written once
    into the cache (`frontside.io.cache_root()`/shipped, named by the shipped file's digest) and reused."""
    if not str(checkpoint).startswith(PREFIX):
        return checkpoint
    source = shipped_path(str(checkpoint)[len(PREFIX):], field)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    path = cache_root() / "shipped" / f"{source.stem}-{digest}.pt"
    return str(path if path.is_file() else write_checkpoint(source.stem, path))


def basis_digest(basis: UVBasis) -> str:
    """sha256 of a UV basis's arrays, names and numbers: what a shipped network composes over."""
    digest = hashlib.sha256()
    for key, value in sorted(basis_to_arrays(basis).items()):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
    return digest.hexdigest()


def export_weights(checkpoint: str | os.PathLike, out: str | os.PathLike, card: dict) -> Path:
    """Write checkpoint's network as a shipped file at `out` (atomically): its weights in float16, its spec,
    config and history, `card` (how it was made: `CARD_FIELDS`), and its basis's digest in place of the basis."""
    import torch

    missing = [key for key in CARD_FIELDS if not card.get(key)]
    if missing:
        raise ParameterError("card", f"field {missing[0]!r} is missing (a card says {', '.join(CARD_FIELDS)})")

    from frontside.learning.checkpoint.saving import checkpoint_basis, load_checkpoint

    state = load_checkpoint(checkpoint)
    basis = checkpoint_basis(state)
    if basis is None or state.get("model_spec") != "builtin":
        raise DataIntegrityError(f"{checkpoint}: only a network of the built-in face model ships (its basis is "
                                 "rebuilt from it)")
    shipped = {
        "format": SHIPPED_FORMAT, "arch": state["arch"], "spec": state["spec"],
        "model": {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()},
        "model_spec": "builtin", "basis_model": basis.model, "basis_size": int(basis.size),
        "basis_sha256": basis_digest(basis), "epoch": state["epoch"], "config": state["config"],
        "history": state["history"], "card": dict(card),
    }
    buffer = io.BytesIO()
    torch.save(shipped, buffer)
    return Path(write_atomic(Path(out), buffer.getvalue()))


def read_shipped(name: str) -> dict:
    """The shipped file of network `name`, as `export_weights` wrote it (read with weights_only=True)."""
    import torch

    path = shipped_path(name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataIntegrityError(f"{path}: not a readable shipped network ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != SHIPPED_FORMAT:
        raise DataIntegrityError(f"{path}: field 'format' is not {SHIPPED_FORMAT}")
    return state


def write_checkpoint(name: str, path: str | os.PathLike) -> Path:
    """An ordinary checkpoint of shipped network `name` at `path` (atomically): its weights in float32 (as
    stored, float16 values), the built-in face model's basis rebuilt and checked against the stored digest."""
    from frontside.learning.checkpoint.saving import save_checkpoint
    from frontside.learning.networks.registry import NetworkSpec, build, default_basis

    state = read_shipped(name)
    basis = default_basis(int(state["basis_size"]))
    if basis.model != state["basis_model"] or basis_digest(basis) != state["basis_sha256"]:
        raise DataIntegrityError(f"{shipped_path(name)}: field 'basis_sha256': the built-in face model's UV basis "
                                 f"is no longer the one this network was trained on ({state['basis_model']}); "
                                 "train it again (its card says how)")
    network = build(NetworkSpec.from_dict(state["spec"]), basis)
    network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()})
    return save_checkpoint(path, network=network, face_model=state["model_spec"], epoch=state["epoch"],
                           config=state["config"], history=state["history"])
