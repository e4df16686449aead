"""Random texture backgrounds (thesis 4.2.6): DTD images, or built-in textures when no folder is given."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from frontside.errors import InputFormatError

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def composite(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: a render over the background. The render's RGB is premultiplied by its alpha (what an
    antialiased render against transparent black is: an edge pixel already holds skin x coverage), so the
    background is added by (1 - alpha) and alpha is applied once: edge pixels lie between skin and background.
    Blending by alpha, not by black pixels, keeps dark hair and shadows."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgba[..., :3].astype(np.float32) + background[..., :3].astype(np.float32) * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _builtin_textures() -> list[np.ndarray]:
    """Textures that need no download: the ones scikit-image ships, as (H, W, 3) uint8."""
    from skimage import data

    out = []
    for name in ("brick", "grass", "gravel", "rough_wall", "coffee", "rocket", "chelsea", "astronaut", "camera",
                 "text", "moon", "page"):
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
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # smooth value noise: bilinear upsampling of a coarse random grid
        cells = int(rng.integers(4, 16))
        coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
        t = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR))
    elif kind == 1:
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        t = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0).astype(np.float32)
    else:
        period = rng.uniform(8, 48)
        t = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
    t = t[..., None]
    img = c0 * (1 - t) + c1 * t + rng.normal(0, 6, size=(h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


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
            with Image.open(choices[int(rng.integers(len(choices)))]) as im:
                img = np.asarray(im.convert("RGB"))
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
