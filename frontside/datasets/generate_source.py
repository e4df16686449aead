"""Synthetic generation as a source for the dataset driver: its checks, what it records, one shard.

The checks follow `GenerateParams` field by field: a field with a rule in `RULES` gets it, any other field (one
added later) is checked against its annotation, so no parameter reaches a shard unchecked. Generation itself
(renderers, numba kernels) is imported only once the parameters passed, so a bad number fails at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from frontside import checks
from frontside.datasets.driver import ShardJob, ShardOutcome, SourceCheck
from frontside.errors import ParameterError

if TYPE_CHECKING:
    from frontside.datasets.generation import GenerateParams

FACEGEN = "facegen"


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
    "size": checks.image_side,
    "source": _source,
    "backgrounds": _folder,
    "renderer": lambda n, v: checks.text(n, v),  # which names exist is `GenerateParams`' to say
}


def check_parameters(params: GenerateParams) -> GenerateParams:
    """`params` with every field checked and paths made absolute; ParameterError naming the first bad one."""
    values = checks.record_fields(params, RULES)
    if (values["source"] == FACEGEN) != (values["renderer"] == FACEGEN):
        raise ParameterError("renderer", f"{values['renderer']!r} with source {values['source']!r}: FaceGen is "
                                         "both the source and the renderer, or neither")
    return replace(params, **values)


@dataclass(frozen=True)
class GenerateSource:
    """Synthetic pairs from a face model and a renderer (`GenerateParams`)."""

    params: GenerateParams
    kind: str = "synthetic"

    def parameter_identity(self) -> dict:
        """The parameters as the identity records them (no file read): the source by its kind (the model it
        names is recorded by content, in `check`), the backgrounds left to `check` (recorded by content too)."""
        params = check_parameters(self.params)
        identity = params.as_dict()
        identity["source"] = params.source.split(":", 1)[0]
        if params.backgrounds is not None:
            del identity["backgrounds"]
        return identity

    def check(self) -> SourceCheck:
        from frontside.datasets.manifest import model_sha256
        from frontside.facemodel import load_model
        from frontside.io import files_digest

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
        from frontside.datasets import generation
        from frontside.pictures import encode_png

        _, _, backgrounds = generation.fresh_pipeline(params)
        if params.backgrounds is not None:
            folder = Path(params.backgrounds)
            inputs["backgrounds"] = {"folder": str(folder), "unreadable": backgrounds.skipped,
                                     **files_digest(folder, backgrounds.paths)}
            identity["backgrounds"] = inputs["backgrounds"]["sha256"]
        regions = generation.dataset_uv_regions(params)
        files = {} if regions is None else {"uv_regions.png": encode_png(regions)}
        return SourceCheck(source=replace(self, params=params), parameters=params.as_dict(), identity=identity,
                           inputs=inputs, works=generation.plan_shards(params.n_faces, params.shard_size),
                           files=files)

    def write_shard(self, job: ShardJob, out: str) -> ShardOutcome:
        from frontside.datasets.generation import generate_shard

        info, kept = generate_shard(job.work, self.params, out, job.expected)
        return ShardOutcome(info, kept)

