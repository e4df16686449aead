import threading

from threadpoolctl import threadpool_info

from frontside.threads import blas_on_one_thread


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_blas_stays_on_one_thread_for_every_thread_of_the_process():
    import numpy  # noqa: F401  (loads OpenBLAS)

    worker = threading.Thread(target=blas_on_one_thread)  # as a flow's worker thread calls it
    worker.start()
    worker.join(10)
    seen = {}
    other = threading.Thread(target=lambda: seen.update(other=_blas_threads()))
    other.start()
    other.join(10)
    assert seen == {"other": {1}} and _blas_threads() == {1}
    blas_on_one_thread()  # again, from another thread: still one
    assert _blas_threads() == {1}
