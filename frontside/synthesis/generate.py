"""A synthetic dataset: per-face randomness, the pipeline (face source, renderer, backgrounds) built once per
process, the faces of one shard, and `GenerateSource`, synthetic generation as a source for the dataset driver
(its checks, what it records, one shard). Importing it loads no renderer and no pair pipeline."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from frontside.io import join
from frontside.store.driver import ShardJob, ShardOutcome, SourceCheck
from frontside.store.layout import shard_name
from frontside.store.manifest import ShardInfo, shard_is_valid
from frontside.store.shards import write_shard
from frontside.synthesis.config import FACEGEN, RENDERERS, GenerateParams, check_parameters

if TYPE_CHECKING:
    from frontside.store.records import Face
    from frontside.synthesis.pairs import ModelSource


def face_rng(seed: int, face_index: int) -> np.random.Generator:
    """The generator for face `face_index` of a dataset with `seed`: independent of order, worker and shard. The
    face, its front and its first side view draw from it."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(face_index)]))


def extra_views_rng(seed: int, face_index: int) -> np.random.Generator:
    """The generator of a face's views after the first two: from the first child of the face's SeedSequence
    (`SeedSequence([seed, i]).spawn(1)[0]`), so adding views never moves the first two views' draws."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(face_index)], spawn_key=(0,)))


def make_source(spec: str) -> ModelSource:
    """A face source from "builtin" or "bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]"."""
    from frontside.facemodel import load_model
    from frontside.synthesis.pairs import ModelSource

    model = load_model(spec)
    return ModelSource(model, kind="bfm" if spec.startswith("bfm:") else "builtin")


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


def _raster():
    from frontside.renderers.raster_renderer import RasterRenderer

    return RasterRenderer()


def _pyrender():
    from frontside.renderers.pyrender_renderer import PyrenderRenderer

    return PyrenderRenderer()


_RENDERER_FACTORIES: dict[str, Callable[[], object]] = {"raster": _raster, "pyrender": _pyrender}


def register_renderer(name: str, factory: Callable[[], object]) -> None:
    """Make `name` a renderer datasets may be generated with (research tools: `tools/pyrender_rebuild.py`)."""
    _RENDERER_FACTORIES[name] = factory
    if name not in RENDERERS:
        RENDERERS.append(name)


def make_renderer(name: str):
    """A renderer for model faces by name ("raster", "pyrender", or one a tool registered). One object serves
    all threads (pyrender keeps an OpenGL context per thread; the raster renderer keeps no state)."""
    if name not in _RENDERER_FACTORIES:
        raise ValueError(f"unknown renderer {name!r}: use {' or '.join(_RENDERER_FACTORIES)}")
    return _RENDERER_FACTORIES[name]()


def dataset_uv_regions(params: GenerateParams) -> np.ndarray | None:
    """The UV region map of the dataset's face model (for the loss weight mask), when the source is a model."""
    source, _, _ = _pipeline(params)
    model = getattr(source, "model", None)
    if model is None:
        return None
    from frontside.facemodel.regions import model_uv_regions

    return model_uv_regions(model, params.size)


def generate_faces(spec: ShardSpec, params: GenerateParams, timings: dict[str, float] | None = None) -> list[Face]:
    """The shard's faces, `params.views` views each; `timings` collects seconds per stage of `make_face`
    (benchmarks). Puts the process's BLAS on one thread (`threads.blas_on_one_thread`: its idle threads spun on
    the other workers' cores)."""
    # the face pipeline (labels, scipy.ndimage, numba) loads here: `GenerateParams` is checked without it
    from frontside.synthesis.pairs import make_face
    from frontside.threads import blas_on_one_thread

    source, renderer, backgrounds = _pipeline(params)
    blas_on_one_thread()
    faces = []
    for face_index in range(spec.first_face, spec.first_face + spec.n_faces):
        faces.append(make_face(source, renderer, backgrounds, face_rng(params.seed, face_index),
                               face_id=f"{source.kind}-{face_index:06d}", face_index=face_index,
                               seed=params.seed, size=params.size, depth=params.depth, views=params.views,
                               views_rng=extra_views_rng(params.seed, face_index), timings=timings,
                               realism=params.realism))
    return faces


def generate_shard(spec: ShardSpec, params: GenerateParams, out: str,
                   expected: ShardInfo | None = None) -> tuple[ShardInfo, bool]:
    """Write shard `spec.index` under `out` unless a valid copy (sha256 == expected's) is already there.

    Returns (info, skipped). Its bytes depend only on (params, spec).
    """
    url = join(out, shard_name(spec.index))
    if expected is not None and shard_is_valid(out, expected):
        return expected, True
    return write_shard(url, generate_faces(spec, params)), False


@dataclass(frozen=True)
class GenerateSource:
    """Synthetic faces from a face model and a renderer (`GenerateParams`)."""

    params: GenerateParams
    kind: str = "synthetic"

    def parameter_identity(self) -> dict:
        """The parameters as the identity records them (no file read): the source by its kind (the model it
        names is recorded by content, in `check`), the backgrounds left to `check` (recorded by content too)."""
        params = check_parameters(self.params)
        identity = params.as_dict()
        identity["source"] = params.source.split(":", 1)[0]
        if params.realism == "none":  # datasets made before the option existed keep their identity
            del identity["realism"]
        if params.backgrounds is not None:
            del identity["backgrounds"]
        return identity

    def check(self) -> SourceCheck:
        from frontside.facemodel import load_model
        from frontside.io import files_digest
        from frontside.store.dataset import model_sha256

        params = check_parameters(self.params)
        inputs: dict = {}
        identity = self.parameter_identity()
        if params.source != FACEGEN:
            model = load_model(params.source)  # before the renderer: a bad model file fails in a second
            inputs["model"] = {"spec": params.source, "name": model.name, "sha256": model_sha256(model)}
            identity["model_sha256"] = inputs["model"]["sha256"]
        else:
            from frontside.renderers.facegen import FaceGenConfig

            inputs["model"] = {"spec": FaceGenConfig.from_environment().topology}
        from frontside.pictures import encode_png

        _, _, backgrounds = fresh_pipeline(params)
        if params.backgrounds is not None:
            folder = Path(params.backgrounds)
            inputs["backgrounds"] = {"folder": str(folder), "unreadable": backgrounds.skipped,
                                     **files_digest(folder, backgrounds.paths)}
            identity["backgrounds"] = inputs["backgrounds"]["sha256"]
        regions = dataset_uv_regions(params)
        files = {} if regions is None else {"uv_regions.png": encode_png(regions)}
        return SourceCheck(source=replace(self, params=params), parameters=params.as_dict(), identity=identity,
                           inputs=inputs, works=plan_shards(params.n_faces, params.shard_size),
                           files=files)

    def write_shard(self, job: ShardJob, out: str) -> ShardOutcome:
        info, kept = generate_shard(job.work, self.params, out, job.expected)
        return ShardOutcome(info, kept)

