"""`--arch` names -> networks, which views each reads, and how each trains by default.

Defaults are frontside's structured networks (`twoview`, `frontonly`): an encoder predicts a pose and the face
model's coefficients and the position map is composed from the model's UV basis (`model.structured`). The
thesis's table-4.1 network stays as `twoview-thesis` (and `frontonly-thesis`), PRN's ResFCN256 as `prn`, each with
its own recipe (Adam, lr 1e-4 halved every 5 epochs), so the thesis can be reproduced as it was.

Importing this module does not import torch (the networks are imported when one is built), so the command line
checks an arch name or a checkpoint's spec against `ARCHS` in a fraction of a second.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from frontside.learning.networks.options import DECODER_NORMS, FUSIONS  # noqa: F401  (the registry's vocabulary)

if TYPE_CHECKING:
    from torch import nn

    from frontside.facemodel.uv_basis import UVBasis

THESIS_PARAMETERS = 11_791_273  # table 4.1's network as the thesis reports it (Keras' count, see networks.py)


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that rebuilds a network besides the face basis; saved in every checkpoint.

    width:        channel multiplier (thesis networks: 1.0 is the paper's; structured: scales the encoder).
    weight_init, decoder_norm: thesis/PRN networks only (see `networks.initialise`, `networks.decoder`).
    input_size:   structured and multi-view networks only: the encoder's resolution (images are area-resized to it).
    fusion:       structured two-view only: "stack" (6 channels, one encoder), "siamese" (one encoder shared by the
                  views) or "dual" (an encoder per view).
    """

    arch: str = "twoview"
    width: float = 1.0
    weight_init: str = "he"
    decoder_norm: str | None = None
    input_size: int = 128
    fusion: str = "stack"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetworkSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Arch:
    """One buildable network family and its training recipe."""

    name: str
    views: str  # "both" (front then side, 6 channels), "front" (3 channels) or "any" (front, then any sides: 3N)
    structured: bool  # composed from a face model's UV basis (needs one to build)
    factory: Callable[[NetworkSpec, UVBasis | None], nn.Module]
    lr: float  # default learning rate
    schedule: str  # "onecycle" (warm-up, cosine decay, AdamW) or "step" (Adam, halved every N epochs: thesis)
    shape_weight: float  # weight of the pose-free shape term of the loss (`loss.ShapeAndPoseLoss`)
    augment: bool  # rotation, colour and occlusion augmentation by default (thesis 2.3)
    description: str
    input_size: int = 128  # the encoder's resolution unless a run asks another (structured, multi-view)
    objective: str = "posmap"  # "posmap": `ShapeAndPoseLoss` on (input, posmap) items; "multiview": a loss in every
    #                            view on `multiview_data.ViewTargets` items (`multiview_loss.MultiViewLoss`)

    @property
    def in_channels(self) -> int:
        """Channels of the validation and evaluation input (front and first side for "any")."""
        return 3 if self.views == "front" else 6


def _encoder_widths(width: float) -> tuple[int, ...]:
    return tuple(max(8, int(round(c * width / 8)) * 8) for c in (32, 48, 64, 128, 192))


def _structured(views: str):
    def factory(spec: NetworkSpec, basis: UVBasis | None) -> nn.Module:
        from frontside.learning.networks.structured import StructuredNet

        if basis is None:
            raise ValueError(f"{spec.arch} composes its output from a face model's UV basis: pass basis=")
        return StructuredNet(basis, views, spec.fusion, spec.input_size, _encoder_widths(spec.width))

    return factory


def _multiview(spec: NetworkSpec, basis: UVBasis | None) -> nn.Module:
    from frontside.learning.networks.multiview import MultiViewNet

    if basis is None:
        raise ValueError("multiview composes its output from a face model's UV basis: pass basis=")
    return MultiViewNet(basis, spec.input_size, _encoder_widths(spec.width))


def _thesis(in_channels: int):
    def factory(spec: NetworkSpec, basis: UVBasis | None) -> nn.Module:
        from frontside.learning.networks.thesis import TwoViewNet

        return TwoViewNet(in_channels, spec.width, spec.weight_init, spec.decoder_norm or "none")

    return factory


def _prn(spec: NetworkSpec, basis: UVBasis | None) -> nn.Module:
    from frontside.learning.networks.thesis import ResFCN256

    return ResFCN256(3, int(round(16 * spec.width)), spec.weight_init, spec.decoder_norm or "batch")


ARCHS: dict[str, Arch] = {
    "twoview": Arch("twoview", "both", True, _structured("both"), 2e-3, "onecycle", 100.0, False,
                    "front + side -> pose and face-model coefficients -> position map (default)"),
    "frontonly": Arch("frontonly", "front", True, _structured("front"), 2e-3, "onecycle", 100.0, False,
                      "the default network on the front view only (the ablation the thesis never ran)"),
    "multiview": Arch("multiview", "any", True, _multiview, 2e-3, "onecycle", 100.0, False,
                      "1..N photos (front first) -> every view's landmarks and pose -> one face fitted to all "
                      "(issue 21)", input_size=128, objective="multiview"),
    "twoview-thesis": Arch("twoview-thesis", "both", False, _thesis(6), 1e-4, "step", 0.0, True,
                           "thesis table 4.1, front + side stacked (6 channels)"),
    "frontonly-thesis": Arch("frontonly-thesis", "front", False, _thesis(3), 1e-4, "step", 0.0, True,
                             "table 4.1 on the front view only"),
    "prn": Arch("prn", "front", False, _prn, 1e-4, "step", 0.0, True, "PRN's ResFCN256, single image (baseline)"),
}


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise ValueError(f"unknown arch {name!r}: choose one of {', '.join(ARCHS)}")
    return ARCHS[name]


@functools.lru_cache(maxsize=4)
def default_basis(size: int = 256) -> UVBasis:
    """The built-in model's UV basis: what a structured network is built on when no dataset names another."""
    from frontside.facemodel.builtin import load_builtin
    from frontside.facemodel.uv_basis import uv_basis

    return uv_basis(load_builtin(), size)


def build(spec: NetworkSpec | str, basis: UVBasis | None = None, **overrides) -> nn.Module:
    """A freshly initialised network. `spec` is a `NetworkSpec` or an arch name (with `overrides` for its other
    fields); `basis` is the UV basis of the dataset's face model (default: the built-in model's at 256).

    The network carries `.spec`, `.arch` and `.basis` (the UV layout it answers in; without components for the
    networks that do not compose from it), so a checkpoint holds all that rebuilds and uses it.
    """
    from frontside.facemodel.uv_basis import without_components

    if isinstance(spec, str):
        spec = NetworkSpec(arch=spec, **overrides)
    arch = get_arch(spec.arch)
    if not 0 < spec.width <= 4:
        raise ValueError(f"width must be in (0, 4], not {spec.width}")
    basis = basis if basis is not None else default_basis()
    network = arch.factory(spec, basis if arch.structured else None)
    network.spec, network.arch = spec, spec.arch
    network.basis = basis if arch.structured else without_components(basis)
    return network
