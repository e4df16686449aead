"""The demo's defaults, in one place for the `demo` flow and `frontside demo` (importing it starts no Prefect)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoConfig:
    """The whole mission, small: 1,600 training and 24 held-out faces, 1,000 steps per network (4.1 minutes on a
    quiet 2-core CPU after set-up; two-view 0.0112 against the mean face's 0.0123)."""

    out: str = "demo-output"
    train_faces: int = 1600
    test_faces: int = 24
    shard_size: int = 50
    steps_per_model: int = 1000
    batch_size: int = 16
    seed: int = 0
