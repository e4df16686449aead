"""`frontside preview`: a PNG grid of synthetic faces (each view with its landmarks, parts and depth; the posmap)."""

from __future__ import annotations

import argparse

MAX_FACES = 256  # one row per face: a bigger grid is no longer a picture to look at


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("preview", help="write a PNG grid of synthetic faces to check that labels fit")
    p.add_argument("--n", type=int, default=8, help="number of faces (default: %(default)s)")
    p.add_argument("--views", type=int, default=2,
                   help="views a face: the front, then side views on alternating sides (default: %(default)s)")
    p.add_argument("--out", default="preview.png")
    p.add_argument("--source", default="builtin", help="builtin | bfm:PATH[,uv=PATH]")
    p.add_argument("--backgrounds", default=None, help="DTD folder (images/<category>/*.jpg); built-in if omitted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256,
                   help="image side: a multiple of 32, at least 64 (default: %(default)s)")
    p.add_argument("--renderer", choices=["raster", "pyrender"], default="raster")
    p.add_argument("--realism", default="none",
                   help="none, all, or a comma list of skin, eyes, occluders, camera (as generate; default: none)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside import checks
    from frontside.errors import ParameterError
    from frontside.facemodel import parse_model_spec
    from frontside.synthesis.config import MAX_VIEWS, parse_realism

    checks.integer("n", args.n, minimum=1, maximum=MAX_FACES)
    checks.integer("views", args.views, minimum=2, maximum=MAX_VIEWS)
    checks.integer("seed", args.seed, minimum=0)
    realism = parse_realism("realism", args.realism)
    size = checks.image_side("size", args.size)
    out = checks.output_file("out", args.out)
    try:
        spec = str(parse_model_spec(args.source))
    except ValueError as exc:
        raise ParameterError("source", str(exc)) from None
    backgrounds = checks.input_folder("backgrounds", args.backgrounds) if args.backgrounds else None
    from frontside.facemodel import load_model

    load_model(spec)  # a bad model file fails before the renderer is even imported

    from tqdm import tqdm

    from frontside.pictures import write_png
    from frontside.renderers.backgrounds import Backgrounds
    from frontside.store.grid import face_grid
    from frontside.synthesis.generate import extra_views_rng, face_rng, make_renderer, make_source
    from frontside.synthesis.pairs import make_face

    source = make_source(spec)
    renderer = make_renderer(args.renderer)
    backgrounds = Backgrounds.from_folder(backgrounds)
    faces = [make_face(source, renderer, backgrounds, face_rng(args.seed, i), face_id=f"{source.kind}-{i:06d}",
                       face_index=i, seed=args.seed, size=size, views=args.views,
                       views_rng=extra_views_rng(args.seed, i), realism=realism) for i in tqdm(range(args.n), desc="faces", unit="face")]
    print(write_png(out, face_grid(faces)))
    return 0
