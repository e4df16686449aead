"""The configuration of a synthetic dataset (`GenerateParams`: everything that decides its bytes, recorded in its
manifest) and of the `generate` command (`GenerateConfig`: those, plus where to write and how many workers), with
the check of every field (`RULES`, `check_parameters`). Importing it loads no renderer and no pair pipeline, so a
bad value answers at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from frontside import checks
from frontside.configs import cli
from frontside.errors import ParameterError

FACEGEN = "facegen"
# Renderer names a dataset may record. A research tool may add one (`generate.register_renderer`: the benchmarks'
# old OpenGL path); users choose between the first two, or FaceGen through `--source facegen`.
RENDERERS = ["raster", "pyrender", FACEGEN]
MAX_VIEWS = 32  # views a face: each costs a render and ~130 KB a row; more is a typo, not a dataset
REALISM_OPTIONS = ("skin", "eyes", "occluders", "camera")  # `synthesis.realism`, in the order they are applied


def parse_realism(name: str, value: object) -> str:
    """The canonical spelling of a realism option list: "none", or options of `REALISM_OPTIONS` in that order
    joined by commas ("all" is every option); ParameterError naming `name` otherwise."""
    if not isinstance(value, str):
        raise ParameterError(name, f"expected a comma list of {', '.join(REALISM_OPTIONS)} (or none, all), "
                                   f"got {value!r}")
    words = [w.strip() for w in value.split(",") if w.strip()]
    if words in ([], ["none"]):
        return "none"
    if words == ["all"]:
        return ",".join(REALISM_OPTIONS)
    unknown = [w for w in words if w not in REALISM_OPTIONS]
    if unknown:
        raise ParameterError(name, f"unknown realism option {unknown[0]!r}: choose from "
                                   f"{', '.join(REALISM_OPTIONS)}, none or all")
    return ",".join(o for o in REALISM_OPTIONS if o in words)


@dataclass(frozen=True)
class GenerateParams:
    """Everything that decides a synthetic dataset's bytes (recorded in its manifest).

    size: the side of both images and of the position map (a multiple of 32, >= 64).
    renderer: "raster" (the CPU renderer, the default: the same bytes on every machine, and the fastest one
    without a GPU), "pyrender" (OpenGL) or "facegen" (with `--source facegen`).
    depth: each view's depth map (float16) in the rows (about 13% of a row's bytes; False leaves it out).
    views: N >= 2 views a face: the front, then side views (the first on a random side, then alternating:
    3 views show the front, one side and the other; `synthesis.pairs.sample_extra_side_poses`).
    realism: "none" (the renders of before, byte for byte), "all", or options of `synthesis.realism.OPTIONS`.
    """

    n_faces: int = field(metadata=cli("number of faces (one row each)", flag="--faces"))
    shard_size: int = field(default=16, metadata=cli("faces per shard"))
    seed: int = field(default=0, metadata=cli("dataset seed: face i draws everything from SeedSequence([seed, i])"))
    source: str = field(default="builtin", metadata=cli("builtin | bfm:PATH[,uv=PATH] | facegen"))
    backgrounds: str | None = field(default=None, metadata=cli("DTD folder (images/<category>/*.jpg); default: "
                                                               "built-in procedural backgrounds"))
    renderer: str = field(default="raster", metadata=cli(
        "raster: CPU, the same bytes everywhere; pyrender: OpenGL (--source facegen always renders with FaceGen)",
        choices=RENDERERS[:2]))
    size: int = field(default=256, metadata=cli("side of the images and the position map: a multiple of 32, "
                                                "at least 64"))
    depth: bool = field(default=True, metadata=cli("leave out each view's depth map (float16, about 55 KB of a "
                                                   "two-view face's 420 KB)", flag="--no-depth"))
    views: int = field(default=2, metadata=cli("views a face: the front, then side views (the first on a random "
                                               "side, then alternating sides: 3 = front, left and right)"))
    realism: str = field(default="none", metadata=cli(
        "renders closer to photographs: none, all, or a comma list of skin (albedo detail), eyes (iris, pupil, "
        "brows, lashes), occluders (hair, hat, glasses, hand), camera (lens, blur, noise, white balance, JPEG); "
        "each draw is recorded in the row (synthesis.realism)"))

    def __post_init__(self) -> None:
        # a record no renderer can make is refused at once (ParameterError, a ValueError naming the field);
        # the other fields are checked with their paths by `check_parameters`
        checks.image_side("size", self.size)
        checks.one_of("renderer", self.renderer, RENDERERS)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(GenerateParams)}


@dataclass(frozen=True)
class GenerateConfig(GenerateParams):
    """`frontside generate` and the generation flows: the dataset's parameters, where it goes, and the task
    runner (threads here, or a Dask cluster)."""

    out: str = field(kw_only=True, metadata=cli("dataset folder or fsspec URL"))
    workers: int = field(default=2, kw_only=True, metadata=cli("threads for shard tasks"))
    dask_address: str | None = field(default=None, kw_only=True,
                                     metadata=cli("run shard tasks on a Dask cluster, e.g. tcp://host:8786"))
    progress: bool = field(default=False, kw_only=True, metadata=cli(hidden=True))

    def params(self) -> GenerateParams:
        """The dataset's own parameters (what its manifest records)."""
        return GenerateParams(**self.as_dict())


def _source(name: str, value: object) -> str:
    """"builtin", "facegen" or a BFM spec, with its paths made absolute."""
    from frontside.facemodel import parse_model_spec

    value = checks.text(name, value)
    if value == FACEGEN:
        return value
    try:
        return str(parse_model_spec(value))
    except ValueError as exc:
        raise ParameterError(name, f"{exc} (or 'facegen')") from None


def _folder(name: str, value: object) -> str | None:
    if value is None:
        return None
    return str(checks.input_folder(name, value).absolute())


# Fields without a rule here are checked against their type annotation only.
RULES: dict[str, Callable[[str, object], object]] = {
    "n_faces": lambda n, v: checks.integer(n, v, minimum=1),
    "shard_size": lambda n, v: checks.integer(n, v, minimum=1),
    "seed": lambda n, v: checks.integer(n, v, minimum=0),
    "views": lambda n, v: checks.integer(n, v, minimum=2, maximum=MAX_VIEWS),
    "size": checks.image_side,
    "source": _source,
    "backgrounds": _folder,
    "renderer": lambda n, v: checks.text(n, v),  # which names exist is `GenerateParams`' to say
    "realism": lambda n, v: parse_realism(n, v),
}


def check_parameters(params: GenerateParams) -> GenerateParams:
    """`params` with every field checked and paths made absolute; ParameterError naming the first bad one."""
    values = checks.record_fields(params, RULES)
    if (values["source"] == FACEGEN) != (values["renderer"] == FACEGEN):
        raise ParameterError("renderer", f"{values['renderer']!r} with source {values['source']!r}: FaceGen is "
                                         "both the source and the renderer, or neither")
    return replace(params, **values)
