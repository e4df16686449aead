"""`frontside generate`: the main job, a synthetic dataset as Parquet shards, resumable."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("generate", help="generate synthetic front/side pairs as Parquet shards (resumable)")
    # dests are GenerateParams' field names: a ParameterError names the field, the CLI shows the flag
    p.add_argument("--faces", dest="n_faces", type=int, required=True, help="number of faces (one pair each)")
    p.add_argument("--shard-size", type=int, default=16, help="pairs per shard (default: %(default)s)")
    p.add_argument("--out", required=True, help="dataset folder or fsspec URL")
    p.add_argument("--source", default="builtin", help="builtin | bfm:PATH[,uv=PATH] | facegen")
    p.add_argument("--backgrounds", default=None, help="DTD folder (images/<category>/*.jpg)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256,
                   help="side of the images and the position map: a multiple of 32, at least 64 (default: %(default)s)")
    p.add_argument("--renderer", choices=["raster", "pyrender", "pyrender-rebuild"], default="raster",
                   help="raster: CPU, the same bytes everywhere (default); pyrender: OpenGL; pyrender-rebuild: "
                        "OpenGL rebuilding its scene per view (the old path, for benchmarks). "
                        "--source facegen always renders with FaceGen")
    p.add_argument("--no-depth", dest="depth", action="store_false",
                   help="leave out each view's depth map (float16, about 55 KB of a pair's 420 KB)")
    p.add_argument("--workers", type=int, default=2, help="threads for shard tasks (default: %(default)s)")
    p.add_argument("--dask-address", default=None, help="run shard tasks on a Dask cluster, e.g. tcp://host:8786")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from frontside import checks
    from frontside.datasets.driver import check_dataset
    from frontside.datasets.generate_source import FACEGEN, RULES, GenerateSource

    # the flags' values first: an answer before generation's renderers and kernels are even imported
    checks.values({name: getattr(args, name) for name in RULES if hasattr(args, name)}, RULES)
    checks.task_runner(args.workers, args.dask_address)
    from frontside.datasets.generation import GenerateParams

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(GenerateParams) if hasattr(args, f.name)}
    if args.source == FACEGEN:  # FaceGen renders its own faces, whatever --renderer says
        given["renderer"] = FACEGEN
    params = GenerateParams(**given)
    # every parameter and input, before Prefect starts (seconds) and before anything is written
    check_dataset(GenerateSource(params), args.out, in_process=False)

    from frontside.cli.prefect_server import guarded_server
    from frontside.flows.generate import run_generate

    with guarded_server():
        result = run_generate(workers=args.workers, dask_address=args.dask_address, **params.as_dict(),
                              out=args.out, progress=True)
    print(f"{result['rows']} pairs in {result['shards']} shards at {result['out']}")
    return 0
