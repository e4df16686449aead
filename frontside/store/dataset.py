"""A dataset folder as commands read it: checked before any work (`check_dataset_folder`), its face model
exactly as the manifest records it (`dataset_model`), and the UV region map every source writes beside its
shards (`uv_regions.png`, from which training builds the loss weight mask)."""

from __future__ import annotations

import io
import weakref

import numpy as np
from PIL import Image

from frontside import checks
from frontside.errors import DataIntegrityError, ParameterError
from frontside.io import join, read_bytes, url_to_fs, write_atomic
from frontside.pictures import encode_png
from frontside.store.layout import MANIFEST_NAME, UV_REGIONS_NAME
from frontside.store.manifest import Manifest


def check_dataset_folder(name: str, root: str) -> Manifest:
    """The manifest of a dataset a command will read, after checking what is cheap to check: the manifest
    itself, at least one shard, every shard present with its recorded size (contents are checked by sha256
    when read), and a readable uv_regions.png. Errors name the file; `name` is the parameter that gave `root`."""
    manifest = Manifest.load(root)
    if not manifest.shards:
        raise DataIntegrityError(f"{join(root, MANIFEST_NAME)}: shards: none listed (given as {name})")
    fs, _ = url_to_fs(root)
    for shard in sorted(manifest.shards.values(), key=lambda s: s.name):
        url = join(root, shard.name)
        _, path = url_to_fs(url)
        if not fs.isfile(path):
            raise DataIntegrityError(f"{url}: shard is missing (rerun the command that made the dataset)")
        if fs.size(path) != shard.nbytes:
            raise DataIntegrityError(f"{url}: {fs.size(path)} bytes, the manifest says {shard.nbytes} (truncated or "
                                     "replaced; rerun the command that made the dataset)")
    read_uv_regions(root, manifest.size)
    return manifest


_digests: dict[int, tuple[weakref.ref, str]] = {}


def _digest(model) -> str:
    from frontside.facemodel.checks import model_digest

    held = _digests.get(id(model))
    if held is None or held[0]() is not model:
        held = (weakref.ref(model), model_digest(model))
        _digests[id(model)] = held
    return held[1]


def _recorded_model(root: str) -> tuple[str, str | None]:
    manifest = Manifest.load(root)
    spec, sha256 = manifest.model_record()
    if spec is None:
        raise DataIntegrityError(f"{join(root, MANIFEST_NAME)}: inputs.model: records no face model this version "
                                 f"can load (parameters: {manifest.parameters})")
    return spec, sha256


def dataset_model_spec(root: str) -> str:
    """The spec of the face model a dataset was made with, as its manifest records it (an error if none)."""
    return _recorded_model(root)[0]


def dataset_model(root: str):
    """The face model a dataset was made with, exactly: its manifest's model spec, loaded, and its content
    checked against the recorded sha256. Any failure is an error naming the manifest or the model file."""
    from frontside.facemodel import load_model

    url = join(root, MANIFEST_NAME)
    spec, sha256 = _recorded_model(root)
    model = load_model(spec)
    if sha256 is not None and _digest(model) != sha256:
        raise DataIntegrityError(f"{url}: inputs.model: {spec} has changed since the dataset was made "
                                 f"(sha256 {sha256[:12]}..., now {_digest(model)[:12]}...)")
    return model


def model_sha256(model) -> str:
    """`facemodel.checks.model_digest`, computed once per loaded model object."""
    return _digest(model)


def write_uv_regions(root: str, uv_regions: np.ndarray) -> str:
    url = join(root, UV_REGIONS_NAME)
    write_atomic(url, encode_png(np.asarray(uv_regions, np.uint8)))
    return url


def read_uv_regions(root: str, size: int | None = None) -> np.ndarray:
    """(S, S) uint8 `Region` label per UV pixel (255 uncovered) of the dataset's face model; S is `size` when
    given (the dataset's), else any side a dataset may have (`checks.image_side`).

    The PNG's header is checked before its pixels are decoded: a corrupt file or one declaring another size
    (a "decompression bomb" declares billions of pixels) is an error naming it.
    """
    url = join(root, UV_REGIONS_NAME)
    fs, path = url_to_fs(url)
    if not fs.exists(path):
        raise DataIntegrityError(f"{url}: missing (the loss weight mask is built from it)")
    expected = f"{size} x {size}" if size is not None else "S x S, S a multiple of 32 from 64"
    try:
        with Image.open(io.BytesIO(read_bytes(url))) as im:
            width, height = im.size
            try:
                side_ok = width == height and (width == size if size is not None
                                               else checks.image_side("side", width) == width)
            except ParameterError:
                side_ok = False
            if not side_ok or im.mode != "L":
                raise DataIntegrityError(f"{url}: image is {width} x {height} mode {im.mode}, expected {expected} "
                                         "mode L (one region label a pixel)")
            return np.asarray(im)
    except DataIntegrityError:
        raise
    except Image.DecompressionBombError:
        raise DataIntegrityError(f"{url}: image declares more pixels than any image we read (a decompression "
                                 f"bomb?); expected {expected}") from None
    except Exception as exc:  # PIL raises many unrelated types for truncated or foreign files
        raise DataIntegrityError(f"{url}: not a readable PNG ({type(exc).__name__})") from None
