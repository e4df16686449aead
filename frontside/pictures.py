"""Small picture helpers shared by the CLI commands: PNG encoding, atomic PNG writes, posmap visualisation."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from frontside.io import write_atomic


def encode_png(image: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of an (H, W), (H, W, 3) or (H, W, 4) uint8 image; same pixels, same bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def figure_png(figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (for `write_atomic`: figures are saved like every other file)."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Atomically write an (H, W[, C]) uint8 image as PNG."""
    return Path(write_atomic(path, encode_png(image)))


def posmap_to_rgb(posmap: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of a position map: x, y, z each scaled over the covered pixels to 0..255."""
    if mask is None:
        mask = np.any(posmap != 0, axis=-1)
    out = np.zeros(posmap.shape, np.uint8)
    if not mask.any():
        return out
    covered = posmap[mask]
    lo, hi = covered.min(axis=0), covered.max(axis=0)
    scaled = (covered - lo) / np.maximum(hi - lo, 1e-6)
    out[mask] = np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out
