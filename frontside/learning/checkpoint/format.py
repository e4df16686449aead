"""What a frontside checkpoint is: its format number, and the digest of its weights' names by which a
network's weights are told from another's without torch (`weight_names.json`, one entry per arch, fusion and
decoder norm; `tools/weight_names.py` rewrites it after a network changed, and a test keeps the two equal)."""

from __future__ import annotations

import hashlib
from pathlib import Path

FORMAT = 3  # 3: NetworkSpec + the UV basis (structured networks); 2: thesis networks only
WEIGHT_NAMES = Path(__file__).with_name("weight_names.json")


def names_key(spec: dict) -> str:
    """What the names of a network's weights depend on: its arch, fusion and decoder norm."""
    from frontside.learning.networks.registry import NetworkSpec

    spec = NetworkSpec.from_dict(spec)
    return f"{spec.arch}|{spec.fusion}|{spec.decoder_norm}"


def names_digest(names) -> str:
    """A digest of a set of weight names (a state dict's keys)."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
