"""Shared fixtures. One Prefect test harness per session: its server takes 7-13 s to start."""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the whole session; request it in every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
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


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, builtin_model) -> str:
    """A real 12-pair synthetic dataset (3 shards of 4), made by the dataset driver in this process, no Prefect."""
    from frontside.datasets.driver import make_dataset
    from frontside.datasets.generate_source import GenerateSource
    from frontside.datasets.generation import GenerateParams

    out = str(tmp_path_factory.mktemp("tiny-dataset"))
    make_dataset(GenerateSource(GenerateParams(n_faces=12, shard_size=4, seed=7)), out)
    return out
