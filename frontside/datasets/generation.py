"""Shared pieces of dataset generation: per-face randomness and face sources from a spec string.

Importing it loads no renderer and no pair pipeline, so `GenerateParams` is checked at once."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from frontside import checks
from frontside.datasets.shards import ShardInfo, join, shard_is_valid, shard_name, write_shard

if TYPE_CHECKING:
    from frontside.datasets.records import Pair
    from frontside.datasets.synthetic import ModelSource


def face_rng(seed: int, face_index: int) -> np.random.Generator:
    """The generator for face `face_index` of a dataset with `seed`: independent of order, worker and shard."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(face_index)]))


def make_source(spec: str) -> ModelSource:
    """A face source from "builtin" or "bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]"."""
    from frontside.datasets.synthetic import ModelSource
    from frontside.facemodel import load_model

    model = load_model(spec)
    return ModelSource(model, kind="bfm" if spec.startswith("bfm:") else "builtin")


RENDERERS = ("raster", "pyrender", "pyrender-rebuild", "facegen")


@dataclass(frozen=True)
class GenerateParams:
    """Everything that decides a synthetic dataset's bytes (recorded in its manifest).

    size: the side of both images and of the position map (a multiple of 32, >= 64).
    renderer: "raster" (the CPU renderer, the default: the same bytes on every machine, and the fastest one
    without a GPU), "pyrender" (OpenGL), "pyrender-rebuild" (OpenGL rebuilding the scene for every view: the
    path before the raster renderer, kept as the benchmarks' baseline) or "facegen" (with `--source facegen`).
    depth: each view's depth map (float16) in the rows (about 13% of a row's bytes; False leaves it out).
    """

    n_faces: int
    shard_size: int
    seed: int = 0
    source: str = "builtin"
    backgrounds: str | None = None
    renderer: str = "raster"
    size: int = 256
    depth: bool = True

    def __post_init__(self) -> None:
        # a record no renderer can make is refused at once (ParameterError, a ValueError naming the field);
        # the other fields are checked with their paths by `generate_source.check_parameters`
        checks.image_side("size", self.size)
        checks.one_of("renderer", self.renderer, RENDERERS)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` holds faces first_face .. first_face + n_faces - 1."""

    index: int
    first_face: int
    n_faces: int


def plan_shards(n_faces: int, shard_size: int) -> list[ShardSpec]:
    """The deterministic split of a dataset into shards (the last one may be short)."""
    if n_faces < 1 or shard_size < 1:
        raise ValueError(f"need n_faces >= 1 and shard_size >= 1, got {n_faces} and {shard_size}")
    return [ShardSpec(i, start, min(shard_size, n_faces - start))
            for i, start in enumerate(range(0, n_faces, shard_size))]


_pipeline_cache: dict = {}
_pipeline_lock = threading.Lock()  # worker threads start together: build the model and renderer only once


def _pipeline(params: GenerateParams):
    """(source, renderer, backgrounds) for these parameters, built once per process and thread-safe to share:
    renderers keep their OpenGL context per thread."""
    key = (params.source, params.backgrounds, params.renderer)
    with _pipeline_lock:
        return _pipeline_cache[key] if key in _pipeline_cache else _build_pipeline(key, params)


def fresh_pipeline(params: GenerateParams):
    """`_pipeline(params)` built again: a check must see the background folder as it is now, not as an earlier
    run in this process listed it."""
    with _pipeline_lock:
        _pipeline_cache.pop((params.source, params.backgrounds, params.renderer), None)
    return _pipeline(params)


def _build_pipeline(key: tuple, params: GenerateParams):
    from frontside.renderers.backgrounds import Backgrounds

    if params.renderer == "facegen":
        from frontside.renderers.facegen import FaceGenConfig, FaceGenRenderer, FaceGenSource

        config = FaceGenConfig.from_environment()
        renderer, source = FaceGenRenderer(config), FaceGenSource(config)
    else:
        renderer, source = make_renderer(params.renderer), make_source(params.source)
    _pipeline_cache[key] = (source, renderer, Backgrounds.from_folder(params.backgrounds))
    return _pipeline_cache[key]


def make_renderer(name: str):
    """A renderer for model faces by name: "raster", "pyrender" or "pyrender-rebuild". One object serves all
    threads (pyrender keeps an OpenGL context per thread; the raster renderer keeps no state)."""
    if name == "raster":
        from frontside.renderers.raster_renderer import RasterRenderer

        return RasterRenderer()
    if name in ("pyrender", "pyrender-rebuild"):
        from frontside.renderers.pyrender_renderer import PyrenderRenderer

        renderer = PyrenderRenderer(reuse_scene=name == "pyrender")
        renderer.name = name
        return renderer
    raise ValueError(f"unknown renderer {name!r}: use raster, pyrender or pyrender-rebuild")


def dataset_uv_regions(params: GenerateParams) -> np.ndarray | None:
    """The UV region map of the dataset's face model (for the loss weight mask), when the source is a model."""
    source, _, _ = _pipeline(params)
    model = getattr(source, "model", None)
    if model is None:
        return None
    from frontside.facemodel.regions import model_uv_regions

    return model_uv_regions(model, params.size)


def generate_pairs(spec: ShardSpec, params: GenerateParams, timings: dict[str, float] | None = None) -> list[Pair]:
    """The shard's pairs; `timings` collects seconds per stage of `make_pair` (benchmarks). Puts the process's
    BLAS on one thread (`threads.blas_on_one_thread`: its idle threads spun on the other workers' cores)."""
    # the pair pipeline (labels, scipy.ndimage, numba) loads here: `GenerateParams` is checked without it
    from frontside.datasets.synthetic import make_pair
    from frontside.threads import blas_on_one_thread

    source, renderer, backgrounds = _pipeline(params)
    blas_on_one_thread()
    pairs = []
    for face_index in range(spec.first_face, spec.first_face + spec.n_faces):
        pairs.append(make_pair(source, renderer, backgrounds, face_rng(params.seed, face_index),
                               face_id=f"{source.kind}-{face_index:06d}", face_index=face_index,
                               seed=params.seed, size=params.size, depth=params.depth, timings=timings))
    return pairs


def generate_shard(spec: ShardSpec, params: GenerateParams, out: str,
                   expected: ShardInfo | None = None) -> tuple[ShardInfo, bool]:
    """Write shard `spec.index` under `out` unless a valid copy (sha256 == expected's) is already there.

    Returns (info, skipped). Its bytes depend only on (params, spec).
    """
    url = join(out, shard_name(spec.index))
    if expected is not None and shard_is_valid(out, expected):
        return expected, True
    return write_shard(url, generate_pairs(spec, params)), False
