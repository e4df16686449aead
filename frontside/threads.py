"""Native thread pools while our own threads do the work: BLAS on one thread.

numpy's OpenBLAS starts a thread per core for each large product (the face model's basis, (N, 3) @ (3, 3)
transforms) and its threads spin after every call waiting for the next: generating pairs on one thread, they
burnt ~55 ms of CPU a pair beside the ~64 ms of the work itself (benchmarks/generate_stages.py), and with two
workers on two cores the spinning took the core the second worker needed. The parallelism is the workers'.

The limit is process-wide and stays: OpenBLAS has one setting for the process, and threadpoolctl (3.8) lets
only the thread that first set it change it again, so a pool's workers could not lift it for each other.
"""

from __future__ import annotations


def blas_on_one_thread() -> None:
    """Limit the BLAS libraries loaded now (numpy's, OpenCV's) to one thread for the rest of the process. Cheap
    (~0.3 ms) and idempotent: call it where the work starts, so a library loaded since is limited too."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
