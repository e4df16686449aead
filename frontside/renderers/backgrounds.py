"""Random texture backgrounds (thesis 4.2.6): DTD images, or built-in textures when no folder is given."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
from PIL import Image

from frontside.errors import InputFormatError
from frontside.images import read_photo

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
BUILTIN_TEXTURES = ("brick", "grass", "gravel", "rough_wall", "coffee", "rocket", "text", "moon", "page")


def composite(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: a render (H, W, 4) uint8 over the background (H, W, 3+) uint8. The render's RGB is
    premultiplied by its alpha (what an antialiased render against transparent black is: an edge pixel already
    holds skin x coverage), so the background is added by (1 - alpha) and alpha is applied once: edge pixels lie
    between skin and background. Blending by alpha, not by black pixels, keeps dark hair and shadows."""
    if rgba.shape[2:] != (4,) or background.ndim != 3 or background.shape[2] < 3 \
            or rgba.shape[:2] != background.shape[:2]:
        raise ValueError(f"composite needs an (H, W, 4) render over an (H, W, 3) background, got {rgba.shape} "
                         f"and {background.shape}")
    return _composite(np.asarray(rgba, np.uint8), np.asarray(background, np.uint8))


@numba.njit(cache=True, nogil=True)
def _composite(rgba, background):
    """rgb + background x (1 - alpha / 255) + 0.5, truncated, in float32 (one pass: numpy's temporaries of the
    same sum cost 4x as much)."""
    height, width = rgba.shape[0], rgba.shape[1]
    out = np.empty((height, width, 3), np.uint8)
    for r in range(height):
        for c in range(width):
            keep = np.float32(1.0) - np.float32(rgba[r, c, 3]) / np.float32(255.0)
            for k in range(3):
                value = np.float32(rgba[r, c, k]) + np.float32(background[r, c, k]) * keep + np.float32(0.5)
                out[r, c, k] = np.uint8(min(max(value, np.float32(0.0)), np.float32(255.0)))
    return out


def _builtin_textures() -> list[np.ndarray]:
    """Textures that need no download: the ones scikit-image ships, as (H, W, 3) uint8. None holds a face: a real
    face (its astronaut, camera, chelsea the cat) beside a rendered one is a second face for a detector to find
    and for a network to learn as background (issue 22: BlazeFace boxed the astronaut behind a render)."""
    from skimage import data

    out = []
    for name in BUILTIN_TEXTURES:
        try:
            img = np.asarray(getattr(data, name)())
        except Exception:  # a texture that needs a download (pooch) is simply not offered
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        out.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return out


def _procedural(kind: int, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Noise, stripes or checks in random colours."""
    c0, c1 = rng.integers(0, 256, size=(2, 3))
    yy, xx = np.arange(h, dtype=np.float64)[:, None], np.arange(w, dtype=np.float64)[None, :]
    if kind == 0:  # smooth value noise: bilinear upsampling of a coarse random grid
        cells = int(rng.integers(4, 16))
        coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
        t = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR))
    elif kind == 1:
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) / period
        phase -= np.floor(phase)
        t = (phase > 0) & (phase < 0.5)  # sin(2 pi phase) > 0 by exact arithmetic: the same on every CPU
    else:
        period = rng.uniform(8, 48)
        t = (np.floor(xx / period) + np.floor(yy / period)) % 2
    return _paint(np.ascontiguousarray(t, np.float32), c0.astype(np.float32), c1.astype(np.float32),
                  rng.normal(0, 6, size=(h, w)).astype(np.float32))


@numba.njit(cache=True, nogil=True)
def _paint(pattern, c0, c1, noise):
    """(H, W, 3) uint8: c0 where pattern (H, W) is 0, c1 where it is 1, blended between, plus grey noise (H, W);
    one pass (float64 numpy broadcasting over (H, W, 3) took ~4 ms)."""
    height, width = pattern.shape
    out = np.empty((height, width, 3), np.uint8)
    for r in range(height):
        for c in range(width):
            t, grain = pattern[r, c], noise[r, c]
            for k in range(3):
                out[r, c, k] = np.uint8(min(max(c0[k] + (c1[k] - c0[k]) * t + grain, 0.0), 255.0))
    return out


@dataclass
class Backgrounds:
    """A source of background images. `paths` is empty for the built-in set.

    skipped: how many files were unreadable (counted, not fatal, until none is readable).
    """

    paths: list[Path] = field(default_factory=list)
    skipped: int = 0
    _builtin: list[np.ndarray] | None = None

    @classmethod
    def from_folder(cls, folder: str | os.PathLike | None) -> Backgrounds:
        """A DTD-style folder (`images/<category>/*.jpg`, or `<category>/*.jpg`), or built-in textures if None."""
        if folder is None:
            return cls(paths=[], _builtin=_builtin_textures())
        root = Path(folder)
        images = root / "images" if (root / "images").is_dir() else root
        if not images.is_dir():
            raise InputFormatError(root, "images/", "background folder does not exist")
        paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
        readable, skipped = [], 0
        for p in paths:
            try:
                with Image.open(p) as im:
                    im.verify()
                readable.append(p)
            except Exception:
                skipped += 1
        if not readable:
            raise InputFormatError(root, "images/<category>/*.jpg",
                                   f"no readable image among {len(paths)} files ({skipped} unreadable)")
        return cls(paths=readable, skipped=skipped)

    def sample(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """(height, width, 3) uint8: a random crop (anywhere, not the top-left corner) of a random texture."""
        if self.paths:
            categories = sorted({p.parent for p in self.paths})
            category = categories[int(rng.integers(len(categories)))]
            choices = [p for p in self.paths if p.parent == category]
            img = read_photo(choices[int(rng.integers(len(choices)))])  # EXIF orientation, any mode
        else:
            textures = self._builtin or []
            pick = int(rng.integers(len(textures) + 3))
            if pick >= len(textures):
                return _procedural(pick - len(textures), rng, height, width)
            img = textures[pick]
        return _random_crop(img, rng, height, width)


def _random_crop(img: np.ndarray, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8: a random window of img magnified 1-1.5x (more when img is smaller than the
    window). Only the window is resampled, not the whole texture (a 512 px texture cost ~3 ms a view)."""
    h, w = img.shape[:2]
    scale = max(height / h, width / w, 1.0) * rng.uniform(1.0, 1.5)
    box_h, box_w = min(height / scale, h), min(width / scale, w)
    top = rng.uniform(0.0, h - box_h)
    left = rng.uniform(0.0, w - box_w)
    window = Image.fromarray(np.ascontiguousarray(img[..., :3])).resize(
        (width, height), Image.BILINEAR, box=(left, top, left + box_w, top + box_h))
    return np.array(window)
