"""Several trained networks read as one: the mean of their answers (an ensemble of seeds).

A checkpoint argument names one network (`runs/a/last.pt`) or an ensemble, its members joined by "+"
(`runs/a/last.pt+runs/b/last.pt`, `shipped:NAME` allowed as a member). Networks trained alike on the same data but
from different seeds err differently; the mean of their answers errs less (measured in README "Learning": two
`multiview` seeds at 19,200 faces x 14 epochs read head depth's held-out R² 0.600 and 0.610 alone, 0.624 as the
mean of their coefficients). It costs each member's time.

    load_predictor("a.pt+b.pt")  -> Ensemble([Predictor(a), Predictor(b)])   (one member: the Predictor itself)
    Ensemble.predict_views(views) -> (mean posmap (B, S, S, 3), mean coefficients (B, K) or None)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from frontside.errors import ParameterError
from frontside.facemodel.uv_basis import UVBasis

if TYPE_CHECKING:  # torch only where networks are loaded: the checks answer at once
    import torch

    from frontside.learning.inference import Predictor

JOIN = "+"  # between an ensemble's checkpoints


def checkpoint_members(spec: str | os.PathLike) -> list[str]:
    """The checkpoints a checkpoint argument names: "a.pt" -> ["a.pt"], "a.pt+b.pt" -> ["a.pt", "b.pt"] (a file
    whose own name holds "+" is one checkpoint)."""
    spec = str(spec)
    if JOIN not in spec or os.path.exists(spec):
        return [spec]
    return spec.split(JOIN)


def members_problem(specs: dict[str, dict]) -> str | None:
    """Why checkpoints {path: state (`checkpoint.validation.check_checkpoint_file`)} cannot be averaged as one
    ensemble (they must be one network design: one arch, all trained on fronts alone or none, one input size),
    or None. No torch."""
    def design(state: dict) -> tuple:
        config = state.get("config") or {}
        return state["spec"]["arch"], config.get("views") == 1, config.get("input_size")

    (first, first_state), *rest = specs.items()
    for path, state in rest:
        if design(state) != design(first_state):
            return (f"{path} is (arch, trained on fronts alone, input size) {design(state)} and {first} is "
                    f"{design(first_state)}: an ensemble's networks must be one design")
    return None


def check_checkpoints(spec: str, name: str = "checkpoint") -> list[dict]:
    """The states of the checkpoints `spec` names, each checked (`checkpoint.validation.check_checkpoint_file`),
    and for an ensemble whether they are one design (`members_problem`; ParameterError naming `name`). No torch."""
    from frontside.learning.checkpoint.validation import check_checkpoint_file

    members = checkpoint_members(spec)
    if not all(members):
        raise ParameterError(name, f"{spec}: an ensemble names a checkpoint on each side of every {JOIN!r}")
    states = {path: check_checkpoint_file(path, name) for path in members}
    problem = members_problem(states) if len(states) > 1 else None
    if problem:
        raise ParameterError(name, problem)
    return [states[path] for path in members]


def resolve_checkpoints(spec: str) -> str:
    """`spec` with each shipped member ("shipped:NAME") an ordinary checkpoint (`learning.shipped.resolve`)."""
    from frontside.learning.shipped import resolve

    return JOIN.join(str(resolve(path)) for path in checkpoint_members(spec))


def _same_basis(a: UVBasis, b: UVBasis) -> bool:
    return a.names == b.names and a.size == b.size and a.model == b.model and np.array_equal(a.mean, b.mean)


@dataclass
class Ensemble:
    """members: Predictors of one network design answering in one UV basis. Reads as a `Predictor`: its position
    maps and coefficients are the members' means; `network` is the first member's (for pictures of one member's
    landmarks)."""

    members: list[Predictor]

    def __post_init__(self):
        if len(self.members) < 2:
            raise ValueError("an ensemble needs at least two networks")
        first = self.members[0]
        for other in self.members[1:]:
            if other.arch != first.arch or other.views != first.views or other.input_size != first.input_size:
                raise ValueError(f"an ensemble's networks must be one design: {other.arch} reading {other.views} "
                                 f"at {other.input_size} px beside {first.arch} reading {first.views} at "
                                 f"{first.input_size} px")
            if not _same_basis(other.basis, first.basis):
                raise ValueError("an ensemble's networks must answer in one UV basis (face model, size, components)")

    arch = property(lambda self: self.members[0].arch)
    views = property(lambda self: self.members[0].views)
    basis = property(lambda self: self.members[0].basis)
    size = property(lambda self: self.members[0].size)
    input_size = property(lambda self: self.members[0].input_size)
    landmark_uv = property(lambda self: self.members[0].landmark_uv)
    face_mask = property(lambda self: self.members[0].face_mask)
    device = property(lambda self: self.members[0].device)
    precision = property(lambda self: self.members[0].precision)
    network = property(lambda self: self.members[0].network)

    def predict_batch(self, fronts: list[np.ndarray], sides: list[np.ndarray | None]) -> np.ndarray:
        """(B, S, S, 3) float32: the members' mean position map (`Predictor.predict_batch`)."""
        return np.mean([m.predict_batch(fronts, sides) for m in self.members], axis=0, dtype=np.float32)

    def predict(self, front: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """(S, S, 3) float32 position map in the front crop's pixels."""
        return self.predict_batch([front], [side])[0]

    def predict_views(self, views: list[list[np.ndarray]], present: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """(mean posmaps (B, S, S, 3), mean coefficients (B, K) or None) over the members
        (`Predictor.predict_views`)."""
        answers = [m.predict_views(views, present) for m in self.members]
        posmaps = np.mean([a[0] for a in answers], axis=0, dtype=np.float32)
        coefficients = [a[1] for a in answers]
        if any(c is None for c in coefficients):
            return posmaps, None
        return posmaps, np.mean(coefficients, axis=0, dtype=np.float32)


def load_predictor(spec: str | os.PathLike, device: str | torch.device | None = None, precision: str = "auto",
                   flip_test: bool = True) -> Predictor | Ensemble:
    """The network a checkpoint argument names, ready to predict: a `Predictor`, or for "a.pt+b.pt" an `Ensemble`
    of theirs (arguments as `Predictor.from_checkpoint`)."""
    from frontside.learning.inference import Predictor

    members = [Predictor.from_checkpoint(path, device, precision, flip_test) for path in checkpoint_members(spec)]
    return members[0] if len(members) == 1 else Ensemble(members)
