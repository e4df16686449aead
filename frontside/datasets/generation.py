"""Shared pieces of dataset generation: per-face randomness and face sources from a spec string."""

from __future__ import annotations

import numpy as np

from frontside.datasets.synthetic import ModelSource


def face_rng(seed: int, face_index: int) -> np.random.Generator:
    """The generator for face `face_index` of a dataset with `seed`: independent of order, worker and shard."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(face_index)]))


def make_source(spec: str) -> ModelSource:
    """A face source from "builtin" or "bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]"."""
    from frontside.facemodel import load_model

    model = load_model(spec)
    return ModelSource(model, kind="bfm" if spec.startswith("bfm:") else "builtin")
