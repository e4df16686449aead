"""`--arch` names -> networks, and which views each one reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from frontside.model.networks import ResFCN256, TwoViewNet

THESIS_PARAMETERS = 11_791_273  # table 4.1's network as the thesis reports it (Keras count)


@dataclass(frozen=True)
class Arch:
    name: str
    views: str  # "both" (front + side, 6 channels) or "front" (3 channels)
    factory: Callable[[], nn.Module]
    description: str


ARCHS: dict[str, Arch] = {
    "twoview": Arch("twoview", "both", lambda: TwoViewNet(6), "thesis table 4.1, front + side (6 channels)"),
    "frontonly": Arch("frontonly", "front", lambda: TwoViewNet(3), "table 4.1 on the front view only (ablation)"),
    "prn": Arch("prn", "front", lambda: ResFCN256(3), "PRN's ResFCN256, single image (baseline)"),
}


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise ValueError(f"unknown arch {name!r}: choose one of {', '.join(ARCHS)}")
    return ARCHS[name]


def build(name: str) -> nn.Module:
    """A freshly initialised network for `name`."""
    return get_arch(name).factory()
