"""Put a trained network among the shipped ones (`frontside/learning/shipped/NAME.pt`), with the card that says
how it was made and what it scored.

    python -m tools.ship_network NAME CHECKPOINT CARD.json

CARD.json: {"data": the command that made the training data, "training": the training command, "code": the
commit it was trained at, "measured": what it scored and on what}. The weights are stored in float16; README
"Learning" gives the shipped networks' scores with the stored weights.
"""

from __future__ import annotations

import json
import sys

from frontside.errors import ParameterError
from frontside.learning.shipped import export_weights, shipped_path


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    name, checkpoint, card_path = argv
    card = json.loads(open(card_path).read())
    try:
        out = export_weights(checkpoint, shipped_path(name), card)
    except ParameterError as exc:
        print(f"{card_path}: {exc}")
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
