"""Image files as cameras, phones and editors write them, read into what the code works on.

`load_image` opens a file, checks its declared size from the header before a pixel is decoded (a "decompression
bomb", a tiny file declaring a huge image, is refused without allocating it), decodes it, and turns every
failure into one `InputFormatError` naming the file. `read_photo` adds what a photo needs: EXIF orientation
honoured (a phone stores a portrait sideways with orientation 6; a malformed EXIF block or an orientation outside
1-8 leaves the stored pixels, as browsers and viewers show them), and any mode to 8-bit RGB: greyscale, palette
and CMYK converted, 16-bit scaled (65535 -> 255, not clipped), alpha composited on a neutral grey (what a
transparent pixel hides does not show through).

Files whose annotations are in the stored pixels' frame (300W-LP's and AFLW2000-3D's landmarks, a scan's texture
coordinates) are read with `orientation=False`: their tools (MATLAB's imread, OBJ viewers) ignore EXIF.

Floor 0: PIL is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from frontside.errors import InputFormatError

if TYPE_CHECKING:
    from PIL import Image

# Images we open: at most 64 megapixels (an 8k x 8k photo); anything bigger is refused before it is decoded
MAX_IMAGE_PIXELS = 64_000_000
NEUTRAL_GREY = (128, 128, 128)  # what a transparent pixel of a photo becomes


def load_image(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """The decoded image of a file (PIL, the file closed) that has at most `max_pixels` pixels. A missing,
    truncated, foreign or too large file is an InputFormatError naming it."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on (a second line on stderr); the size check below answers instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # "Corrupt EXIF data" and the like: Pillow skips what it cannot parse, as viewers do
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            with Image.open(path) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise InputFormatError(path, "image", f"declares {width} x {height} pixels, more than the "
                                                          f"{max_pixels:,} allowed")
                im.load()
                return im
    except InputFormatError:
        raise
    except Image.DecompressionBombError:
        raise InputFormatError(path, "image", f"declares more than {max_pixels:,} pixels (a decompression "
                                              "bomb?)") from None
    except FileNotFoundError:
        raise InputFormatError(path, "file", "does not exist") from None
    except IsADirectoryError:
        raise InputFormatError(path, "file", "is a folder") from None
    except Exception as exc:  # PIL raises many unrelated types for truncated or foreign files
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise InputFormatError(path, "image", f"not a readable image ({type(exc).__name__}: {detail})") from None


def rgb8(im: Image.Image, background: tuple[int, int, int] = NEUTRAL_GREY) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PIL image of any mode: 16-bit and 32-bit integer greys scaled to 8 bits (a
    16-bit file's 65535 is 255; integer values above 65535 scaled by their maximum), float greys from [0, 1],
    alpha (RGBA, LA, a palette's transparency) composited over `background`."""
    mode = im.mode
    if mode.startswith("I") or mode == "F":
        values = np.asarray(im, np.float64)
        if mode == "F":
            top = 1.0 if values.size == 0 or np.nanmax(values) <= 1.0 else max(float(np.nanmax(values)), 1.0)
        else:
            top = 65535.0 if values.size == 0 or values.max() <= 65535 else float(values.max())
        grey = np.clip(np.nan_to_num(values) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"), np.float32)
        alpha = rgba[..., 3:] / 255.0
        out = rgba[..., :3] * alpha + np.asarray(background, np.float32) * (1.0 - alpha)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, np.uint8))


def read_photo(path: str | os.PathLike, orientation: bool = True, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a photo file, as a viewer shows it: EXIF orientation applied (unless
    `orientation` is False), any mode converted by `rgb8`. A bad file is an InputFormatError naming it."""
    im = load_image(path, max_pixels)
    if orientation:
        import warnings

        from PIL import ImageOps

        try:
            with warnings.catch_warnings():  # "Corrupt EXIF data": such a block is skipped, as viewers skip it
                warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
                im = ImageOps.exif_transpose(im)
        except Exception as exc:  # an EXIF block Pillow cannot skip: PIL raises several types
            raise InputFormatError(path, "EXIF orientation", f"cannot be read ({type(exc).__name__}: {exc})") from None
    return rgb8(im)
