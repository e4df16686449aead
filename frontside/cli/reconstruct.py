"""`frontside reconstruct`: a front and a side photo in, a textured OBJ out."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("reconstruct", help="rebuild a textured 3D face (OBJ) from a front and a side photo")
    p.add_argument("--front", required=True, help="front photo")
    p.add_argument("--side", default=None, help="side photo (needed by two-view networks)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", default="face.obj")
    p.add_argument("--no-detect", action="store_true", help="photos are already 256 x 256 face crops")
    p.add_argument("--uv-regions", default=None, help="a dataset's uv_regions.png: keep only the face (no neck)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from frontside.reconstruct import reconstruct

    mask = None
    if args.uv_regions:
        with Image.open(args.uv_regions) as im:
            regions = np.asarray(im)
        mask = (regions != 255) & (regions != 0)
    print(reconstruct(args.front, args.side, args.checkpoint, args.out, detect=not args.no_detect, face_mask=mask))
    return 0
