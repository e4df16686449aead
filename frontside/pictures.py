"""Small picture helpers shared by the CLI commands: PNG encoding, figures as PNG bytes, atomic PNG writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from frontside.io import write_atomic

_PNG_FILTERS = {"none": cv2.IMWRITE_PNG_FILTER_NONE, "sub": cv2.IMWRITE_PNG_FILTER_SUB,
                "up": cv2.IMWRITE_PNG_FILTER_UP, "avg": cv2.IMWRITE_PNG_FILTER_AVG,
                "paeth": cv2.IMWRITE_PNG_FILTER_PAETH}


def encode_png(image: np.ndarray, compress_level: int = 6, png_filter: str | None = None,
               rle: bool = False) -> bytes:
    """PNG bytes of an (H, W), (H, W, 3) or (H, W, 4) uint8 image (RGB order), or an (H, W) bool one (1-bit);
    same pixels and options, same bytes. Through OpenCV, which releases the GIL while it encodes, so threads
    encode in parallel (Pillow's encoder holds it); other dtypes go through Pillow.

    png_filter: one PNG filter for every row ("none", "sub", "up", "avg", "paeth") instead of libpng's trial of
    all five per row, which is ~40% of a level-1 encode; rle: zlib's run-length strategy (for label maps)."""
    image = np.ascontiguousarray(image)
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)]
    if png_filter is not None:
        params += [cv2.IMWRITE_PNG_FILTER, _PNG_FILTERS[png_filter]]
    if rle:
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    if image.dtype == bool and image.ndim == 2:
        image, params = image.view(np.uint8), params + [cv2.IMWRITE_PNG_BILEVEL, 1]  # 0/1 -> 1-bit
    elif image.dtype != np.uint8 or image.ndim not in (2, 3):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG", compress_level=compress_level)
        return buf.getvalue()
    elif image.ndim == 3:
        image = cv2.cvtColor(image, {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}[image.shape[2]])
    ok, data = cv2.imencode(".png", image, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as PNG")
    return data.tobytes()


def figure_png(figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (for `write_atomic`: figures are saved like every other file)."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Atomically write an (H, W[, C]) uint8 image as PNG."""
    return Path(write_atomic(path, encode_png(image)))
