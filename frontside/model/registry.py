"""`--arch` names -> networks, and which views each one reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from frontside.model.networks import ResFCN256, TwoViewNet

THESIS_PARAMETERS = 11_791_273  # table 4.1's network as the thesis reports it (Keras' count, see networks.py)


@dataclass(frozen=True)
class Arch:
    """One buildable network: its name, the views it reads, its input channels and how to build it."""

    name: str
    views: str  # "both" (front then side, 6 channels) or "front" (3 channels)
    in_channels: int
    factory: Callable[[float, str, str], nn.Module]  # (width multiplier, weight init, decoder norm) -> network
    decoder_norm: str  # its own: "none" (the thesis's decoder) or "batch" (PRN's)
    description: str


ARCHS: dict[str, Arch] = {
    "twoview": Arch("twoview", "both", 6, lambda w, i, n: TwoViewNet(6, w, i, n), "none",
                    "thesis table 4.1, front + side (6 channels)"),
    "frontonly": Arch("frontonly", "front", 3, lambda w, i, n: TwoViewNet(3, w, i, n), "none",
                      "table 4.1 on the front view only (ablation)"),
    "prn": Arch("prn", "front", 3, lambda w, i, n: ResFCN256(3, int(round(16 * w)), i, n), "batch",
                "PRN's ResFCN256, single image (baseline)"),
}


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise ValueError(f"unknown arch {name!r}: choose one of {', '.join(ARCHS)}")
    return ARCHS[name]


def build(name: str, width: float = 1.0, weight_init: str = "he", decoder_norm: str | None = None) -> nn.Module:
    """A freshly initialised network for `name`; `width` < 1 thins every layer (tests only: 1.0 is the paper's);
    `weight_init` is "he" or "keras" (the originals' Glorot; see `networks.initialise`); `decoder_norm` "none" or
    "batch" (None: the architecture's own, `Arch.decoder_norm`).

    The network carries `.arch`, `.width` and `.decoder_norm`, so a checkpoint can name what to rebuild.
    """
    if not 0 < width <= 4:
        raise ValueError(f"width must be in (0, 4], not {width}")
    arch = get_arch(name)
    decoder_norm = decoder_norm or arch.decoder_norm
    network = arch.factory(width, weight_init, decoder_norm)
    network.arch, network.width, network.decoder_norm = name, float(width), decoder_norm
    return network
