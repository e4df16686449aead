"""`frontside reconstruct`: a front photo, and a side photo for two-view networks (or a folder of them), in; a 3D
face + face.json out.

Every check of the command's input lives here, before anything loads: a usage problem (flags that do not go
together, a value out of range) exits 2, a bad file exits 1, each as one line
`frontside reconstruct: error: <flag or file>: <problem>`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from frontside.configs import add_flags, from_flags
from frontside.errors import FrontsideError
from frontside.reconstruct.config import ReconstructConfig
from frontside.reconstruct.outputs import MESH_FORMATS

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class UsageError(Exception):
    """Flags that do not go together: exit 2."""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("reconstruct", help="rebuild a 3D face (OBJ/PLY/GLB + face.json) from a front photo (and a "
                                           "side photo for two-view networks)",
                       description="Detect the face, crop it as training did, predict, crop again from the "
                                   "predicted landmarks, predict again; write the mesh and face.json (landmarks "
                                   "in 3D and in the photo, head pose, crop boxes).")
    add_flags(p, ReconstructConfig)
    p.set_defaults(func=run)
    return p


def _fail(flag: str, problem: str, code: int) -> int:
    print(f"frontside reconstruct: error: {flag}: {problem}", file=sys.stderr)
    return code


def _check_file(flag: str, path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        raise FrontsideError(f"{flag} {path}: {'is a folder' if Path(path).is_dir() else 'does not exist'}")


def _pairs_in(folder: Path, views: tuple[str, ...]) -> list[tuple[str, Path, Path | None]]:
    """(name, front, side) for every front/NAME.* (sorted by name), with its side/NAME.* when the network reads
    side photos (`views` holds "side"; side is None otherwise and side/ may be absent)."""
    for sub in views:
        if not (folder / sub).is_dir():
            raise FrontsideError(f"--pairs {folder}: has no {sub}/ folder (expected "
                                 f"{' and '.join(f'{v}/NAME.jpg' for v in views)})")

    def photos(sub: str) -> dict[str, Path]:
        return {p.stem: p for p in sorted((folder / sub).iterdir()) if p.suffix.lower() in PHOTO_SUFFIXES}

    found = {sub: photos(sub) for sub in views}
    fronts = found["front"]
    unmatched = sorted(set(fronts) ^ set(found.get("side", fronts)))
    if unmatched:
        raise FrontsideError(f"--pairs {folder}: {len(unmatched)} photo(s) without a partner in the other folder: "
                             f"{', '.join(unmatched[:5])}")
    if not fronts:
        raise FrontsideError(f"--pairs {folder}: no photos ({'/'.join(PHOTO_SUFFIXES)}) in front/")
    return [(name, fronts[name], found["side"][name] if "side" in found else None) for name in sorted(fronts)]


def _check_usage(args: ReconstructConfig) -> None:
    if (args.front is None) == (args.pairs is None):
        raise UsageError("--front/--pairs", "give one photo pair (--front [--side]) or a folder (--pairs), not "
                         + ("both" if args.front else "neither"))
    if args.pairs and args.side:
        raise UsageError("--side", "goes with --front; a --pairs folder holds its own side/ photos")
    if args.iterations < 1:
        raise UsageError("--iterations", f"must be at least 1, got {args.iterations}")
    if args.front:
        out = Path(args.out or "face.obj")
        if out.suffix.lower() not in MESH_FORMATS:
            raise UsageError("--out", f"{out}: the mesh format comes from the suffix: {', '.join(MESH_FORMATS)}")
        if args.preview and Path(args.preview).suffix.lower() != ".png":
            raise UsageError("--preview", f"{args.preview}: a .png")
    elif args.preview and ("/" in args.preview or not args.preview.lower().endswith(".png")):
        raise UsageError("--preview", f"{args.preview}: with --pairs a file name like preview.png, written per pair")


def _face_mask(path: str):
    import numpy as np
    from PIL import Image

    from frontside.errors import InputFormatError
    from frontside.learning.network_io import face_mask

    try:
        with Image.open(path) as im:
            regions = np.asarray(im)
    except OSError as exc:
        raise InputFormatError(path, "image", f"not a readable PNG ({exc})") from None
    if regions.ndim != 2:
        raise InputFormatError(path, "image", f"a one-channel label map is expected, got shape {regions.shape}")
    return face_mask(regions)


def run(namespace: argparse.Namespace) -> int:
    args = from_flags(ReconstructConfig, namespace)
    try:
        _check_usage(args)
    except UsageError as exc:
        return _fail(*exc.args, code=2)
    from dataclasses import replace

    from frontside.learning.ensemble import check_checkpoints, checkpoint_members, resolve_checkpoints

    args = replace(args, checkpoint=resolve_checkpoints(args.checkpoint))  # shipped:NAME: from the cache
    for member in checkpoint_members(args.checkpoint):  # "a.pt+b.pt": an ensemble
        _check_file("--checkpoint", member)
    _check_file("--front", args.front)
    for side in args.side:
        _check_file("--side", side)
    _check_file("--uv-regions", args.uv_regions)
    from frontside.learning.networks.registry import get_arch

    # read without torch: a file that is no checkpoint, or a two-view network without --side, answers at once
    arch = get_arch(check_checkpoints(args.checkpoint, "checkpoint")[0]["spec"]["arch"])
    with_sides = arch.views == "both" or (arch.views == "any" and args.pairs is not None
                                          and (Path(args.pairs) / "side").is_dir())
    views = ("front", "side") if with_sides else ("front",)
    if args.pairs is None and arch.views == "both" and not args.side:
        return _fail("--side", f"{args.checkpoint} is a two-view network: it needs the side photo too", 2)
    pairs = _pairs_in(Path(args.pairs), views) if args.pairs else None

    from frontside.reconstruct.pipeline import Reconstructor

    mask = _face_mask(args.uv_regions) if args.uv_regions else None
    reconstructor = Reconstructor(args.checkpoint, detector=args.detector, face_mask=mask)
    detect = args.detect
    if pairs is None:
        result = reconstructor.reconstruct(args.front, args.side, args.iterations, detect)
        written = reconstructor.write(result, args.out or "face.obj", preview=args.preview)
        for path in written.values():
            print(path)
        return 0
    return _run_folder(reconstructor, pairs, Path(args.out or "reconstructions"), args, detect)


def _run_folder(reconstructor, pairs, out: Path, args: ReconstructConfig, detect: bool) -> int:
    from tqdm import tqdm

    failed: list[str] = []
    for name, front, side in tqdm(pairs, desc="reconstruct", unit="pair", file=sys.stderr):
        try:
            result = reconstructor.reconstruct(str(front), None if side is None else str(side), args.iterations,
                                               detect)
            folder = out / name
            reconstructor.write(result, folder / f"face.{args.format}",
                                preview=folder / args.preview if args.preview else None)
        except FrontsideError as exc:
            failed.append(f"{name}: {exc}")
    print(f"{len(pairs) - len(failed)} of {len(pairs)} pairs reconstructed into {out}")
    for line in failed:
        print(f"frontside reconstruct: error: {line}", file=sys.stderr)
    return 1 if failed else 0
