"""Is this file a checkpoint a command can use? A frontside checkpoint of this format (`check_state`, which
`saving.load_checkpoint` applies too), of a known arch, whose weights are named as that arch's and are finite
(`check_checkpoint_file`): all without torch (`reader`), so a bad file answers in a fraction of a second.
`weights_fit_problem` says why weights cannot load into a network; `saving.check_weights_fit` is the one check
that needs torch."""

from __future__ import annotations

import json
import os

import numpy as np

from frontside.errors import DataIntegrityError
from frontside.learning.checkpoint.format import FORMAT, WEIGHT_NAMES, names_digest, names_key
from frontside.learning.checkpoint.reader import StoredTensor, read_checkpoint, stored_arrays
from frontside.learning.networks.registry import ARCHS


def check_state(state: object, path: str | os.PathLike) -> dict:
    """`state`, a checkpoint as `torch.load` or `read_checkpoint` gives it, when it is a frontside checkpoint
    of this format with a known arch and weights; DataIntegrityError naming the file and the field otherwise."""
    if not isinstance(state, dict) or "model" not in state or "spec" not in state:
        raise DataIntegrityError(f"{path}: not a frontside checkpoint (no 'spec'/'model')")
    if state.get("format") != FORMAT:
        raise DataIntegrityError(f"{path}: field 'format' is {state.get('format')}, this version reads {FORMAT} "
                                 "(retrain: the networks changed)")
    arch = state["spec"].get("arch") if isinstance(state["spec"], dict) else None
    if not isinstance(arch, str) or arch not in ARCHS:
        raise DataIntegrityError(f"{path}: field 'arch': {arch!r} is not one of {', '.join(ARCHS)}")
    if state.get("arch", arch) != arch:
        raise DataIntegrityError(f"{path}: field 'arch' is {state['arch']!r}, but field 'spec' describes {arch!r}")
    if not isinstance(state["model"], dict) or not state["model"]:
        raise DataIntegrityError(f"{path}: field 'model': no weights")
    odd = [k for k, v in state["model"].items() if not isinstance(k, str) or not hasattr(v, "shape")]
    if odd:
        raise DataIntegrityError(f"{path}: field 'model': {len(odd)} entries are not named tensors "
                                 f"(e.g. {str(odd[0])[:40]!r})")
    return state


def weight_names_problem(state: dict) -> str | None:
    """Why the names of `state`'s weights are not those of the network its spec describes (e.g. a prn's weights
    under a twoview-thesis spec), or None; told by `weight_names.json`, without torch. None too for a spec the
    file does not know: `check_weights_fit` decides then."""
    table = json.loads(WEIGHT_NAMES.read_text())
    want = table.get(names_key(state["spec"]))
    have = names_digest(state["model"])
    if want is None or have == want:
        return None
    like = sorted({key.split("|")[0] for key, digest in table.items() if digest == have})
    arch = state["spec"]["arch"]
    return (f"the weights are named as those of a {' or '.join(like)} network" if like else
            "the weights are named as no frontside network's") + f", not as those of the {arch} network it describes"


def check_checkpoint_file(path: str | os.PathLike, name: str = "checkpoint") -> dict:
    """The checkpoint (`read_checkpoint`: tensors as `StoredTensor`) when it is a frontside checkpoint of this
    format, of a known arch, whose weights are named as that arch's and are all finite. No torch: it answers at
    once. Whether their shapes fit the network is `check_weights_fit`'s question."""
    state = check_state(read_checkpoint(path, name), path)
    problem = weight_names_problem(state)
    if problem:
        raise DataIntegrityError(f"{path}: field 'model' does not fit field 'spec' ({problem})")
    floating = {k: v for k, v in state["model"].items() if isinstance(v, StoredTensor) and v.floating}
    broken = [k for k, v in stored_arrays(floating).items() if not np.isfinite(v).all()]
    if broken:
        raise DataIntegrityError(f"{path}: field 'model': {len(broken)} tensors hold NaN or infinity "
                                 f"(e.g. {broken[0]}): a diverged run")
    return state


def weights_fit_problem(expected: dict, given: dict) -> str | None:
    """Why weights `given` ({name: anything with a .shape}) cannot load into a network whose state dict is
    `expected` (strictly: the same names, the same shapes), or None."""
    want = {k: tuple(v.shape) for k, v in expected.items()}
    have = {k: tuple(v.shape) if hasattr(v, "shape") else None for k, v in given.items()}
    missing = [k for k in want if k not in have]
    unexpected = [k for k in have if k not in want]
    reshaped = [k for k in want if k in have and have[k] != want[k]]
    problems = []
    if missing:
        problems.append(f"{len(missing)} of the network's {len(want)} weights missing, e.g. {missing[0]}")
    if unexpected:
        problems.append(f"{len(unexpected)} weights the network does not have, e.g. {unexpected[0]}")
    if reshaped:
        k = reshaped[0]
        problems.append(f"{len(reshaped)} of another shape, e.g. {k}: {have[k]}, the network's {want[k]}")
    return "; ".join(problems) or None
