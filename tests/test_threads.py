import threading

from threadpoolctl import threadpool_info

from frontside.threads import one_blas_thread


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_blas_is_on_one_thread_until_the_last_holder_leaves():
    import numpy  # noqa: F401  (loads OpenBLAS)

    before = _blas_threads()
    first_in, first_may_leave = threading.Event(), threading.Event()
    seen = {}

    def first():
        with one_blas_thread():
            first_in.set()
            first_may_leave.wait(10)
            seen["first, after the second left"] = _blas_threads()

    worker = threading.Thread(target=first)
    worker.start()
    first_in.wait(10)
    with one_blas_thread():
        seen["both inside"] = _blas_threads()
    first_may_leave.set()
    worker.join(10)
    assert seen == {"both inside": {1}, "first, after the second left": {1}}
    assert _blas_threads() == before
