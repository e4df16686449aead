"""The demo's configuration, in one place for the `demo` flow and `frontside demo` (importing it starts no
Prefect)."""

from __future__ import annotations

from dataclasses import dataclass, field

from frontside.configs import cli


@dataclass(frozen=True)
class DemoConfig:
    """The whole mission, small: 1,600 training and 24 held-out faces, 600 steps per network, and the shipped
    multi-view network beside its fronts-trained twin, evaluated on the same held-out faces (trained off-line: 37-67
    minutes a network here, `frontside.learning.shipped`). 6.8 minutes on a quiet 2-core CPU once set up (9.0 with
    the first set-up); two-view 0.0113, shipped two-view 0.0066 against its twin's 0.0084, mean face 0.0123."""

    out: str = field(default="demo-output", metadata=cli("the demo's folder: data/, runs/, report/"))
    train_faces: int = field(default=1600, metadata=cli("training faces"))
    test_faces: int = field(default=24, metadata=cli("held-out faces (another seed)"))
    shard_size: int = field(default=50, metadata=cli("pairs per shard"))
    steps_per_model: int = field(default=600, metadata=cli("training steps per network (the same for each)",
                                                            flag="--steps"))
    batch_size: int = field(default=16, metadata=cli("pairs per step"))
    seed: int = field(default=0, metadata=cli("seed of the training set and the runs"))
    networks: list[str] = field(default_factory=lambda: ["twoview", "frontonly"], metadata=cli(
        "networks to train and compare, each for the same steps (archs or named variants: multiview-front is the "
        "multi-view network trained on fronts alone)", flag="--network"))
    views: int = field(default=2, metadata=cli("views a face in the generated data (front, then sides; 3 for "
                                               "multiview: front, left and right)"))
    shipped: bool = field(default=True, metadata=cli(
        "also evaluate the shipped multi-view network and the same design trained on fronts alone (trained "
        "off-line on 4,800 faces, 37 and 67 minutes here: what the side photo adds, which the demo's own "
        "training does not show)"))
