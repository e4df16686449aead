"""The table `frontside/learning/checkpoint/weight_names.json` must hold: for every arch, fusion and decoder norm
the training options allow, a digest of that network's weight names (it builds every network: torch).

    python -m tools.weight_names      # rewrite the file after a network changed (a test compares the two)
"""

from __future__ import annotations

import itertools
import json

from frontside.learning.checkpoint.format import WEIGHT_NAMES, names_digest, names_key
from frontside.learning.networks.registry import ARCHS, DECODER_NORMS, FUSIONS, NetworkSpec, build


def weight_names_table() -> dict[str, str]:
    """{"arch|fusion|decoder_norm": `names_digest` of that network's weights} for every combination the training
    options allow. Builds every network (torch): what `weight_names.json` must hold."""
    table = {}
    for arch, fusion, norm in itertools.product(ARCHS, FUSIONS, (None,) + DECODER_NORMS):
        spec = NetworkSpec(arch, width=0.25, decoder_norm=norm, input_size=64, fusion=fusion)
        table[names_key(spec.as_dict())] = names_digest(build(spec).state_dict())
    return table


if __name__ == "__main__":
    WEIGHT_NAMES.write_text(json.dumps(weight_names_table(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {WEIGHT_NAMES}")
