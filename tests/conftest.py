"""Shared fixtures. One Prefect test harness per session: its server takes 7-13 s to start."""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")

import logging  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _log_handlers_outlive_captured_streams():
    """A console handler made inside a test that captures stderr (Prefect's, set up on first use; the command line's
    `show_library_logs`) writes to that test's stream, closed when the test ends: every later log record would then
    fail (and Prefect's handler, reporting its own failure through logging, recursed until the stack ran out).
    After each test such a handler writes to the session's stderr again."""
    yield
    for logger in (logging.getLogger(), logging.getLogger("frontside")):
        for handler in logger.handlers:
            console = getattr(handler, "console", None)  # Prefect's handler prints through a rich Console
            stream = console.file if console is not None else getattr(handler, "stream", None)
            if stream is not None and getattr(stream, "closed", False):
                if console is not None:
                    console.file = sys.stderr
                else:
                    handler.stream = sys.stderr  # not setStream: it flushes the closed stream first


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the whole session; request it in every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    # on this shared 2-core machine at load 11 the server took 225 s to answer (Prefect counts only its 0.1 s
    # sleeps toward the limit, so 90 ran out after ~150 s): a generous limit costs nothing when it starts at once
    with prefect_test_harness(server_startup_timeout=900):
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def builtin_model(tmp_path_factory):
    """The built-in head model, built once into a session cache folder."""
    import os

    from frontside.facemodel.builtin import load_builtin

    cache = tmp_path_factory.mktemp("model-cache")
    os.environ["FRONTSIDE_CACHE"] = str(cache)
    return load_builtin(cache)


def synthetic_dataset(out: str, n_faces: int, shard_size: int, seed: int, size: int = 256, views: int = 2) -> str:
    """A real synthetic dataset at `out`, made by the dataset driver in this process (no Prefect): the bytes
    `frontside generate` writes with these parameters."""
    from frontside.store.driver import make_dataset
    from frontside.synthesis.config import GenerateParams
    from frontside.synthesis.generate import GenerateSource

    make_dataset(GenerateSource(GenerateParams(n_faces=n_faces, shard_size=shard_size, seed=seed, size=size,
                                               views=views)), out)
    return out


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, builtin_model) -> str:
    """A real 12-pair synthetic dataset (3 shards of 4)."""
    return synthetic_dataset(str(tmp_path_factory.mktemp("tiny-dataset")), 12, 4, seed=7)


@pytest.fixture(scope="session")
def learning_split(tmp_path_factory, builtin_model) -> tuple[str, str]:
    """(training, held-out) datasets at 128 x 128: 128 faces, and 24 faces of another seed."""
    return (synthetic_dataset(str(tmp_path_factory.mktemp("learn-train")), 128, 64, seed=11, size=128),
            synthetic_dataset(str(tmp_path_factory.mktemp("learn-test")), 24, 24, seed=1_000_003, size=128))


@pytest.fixture(scope="session")
def stream_dataset(tmp_path_factory, builtin_model) -> str:
    """A real 48-pair synthetic dataset at 64 x 64 in 8 shards of 6: enough shards for streams and ranks."""
    return synthetic_dataset(str(tmp_path_factory.mktemp("stream-dataset")), 48, 6, seed=23, size=64)
