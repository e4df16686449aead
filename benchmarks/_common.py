"""Shared bits of the benchmark scripts: run from the repo root as `python benchmarks/NAME.py`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("DO_NOT_TRACK", "1")


def median_ms(fn, repeats: int = 20, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return 1000.0 * times[len(times) // 2]


def emit(result: dict) -> None:
    print(json.dumps(result, indent=2))
