"""Native thread pools while our own threads do the work: one BLAS thread each.

numpy's OpenBLAS starts a thread per core for each large product (the face model's basis, (N, 3) @ (3, 3)
transforms) and its threads spin after every call waiting for the next: generating pairs on one thread, they
burnt ~55 ms of CPU a pair beside the ~64 ms of the work itself (benchmarks/generate_stages.py), and with two
workers on two cores the spinning took the core the second worker needed. The parallelism is the workers'.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_limits = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS libraries limited to one thread while any thread is inside this block; their own limits back when
    the last one leaves. The limit is process-wide (OpenBLAS has no per-thread setting), hence the count: a
    worker finishing its shard must not lift the limit under another that is still working."""
    global _holders, _limits
    from threadpoolctl import threadpool_limits

    with _lock:
        if _holders == 0:
            _limits = threadpool_limits(limits=1, user_api="blas")
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                _limits.restore_original_limits()
                _limits = None
