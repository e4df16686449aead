"""Real photos that ship with what frontside installs (scikit-image, matplotlib), as a detection test set, with the
issue 22 research protocol, shared by the tests and `benchmarks/reconstruct.py`.

Sets (`SETS[name]()` -> [RealPhoto]):
- portraits: scikit-image's astronaut and camera (grey, as RGB), matplotlib's grace_hopper; reference = 68
  landmarks measured once by dlib (`real_photo_landmarks.json`).
- portraits_aug: each portrait rotated +-15 degrees about its face (reflected border), a tight crop (2.2 x the
  landmark box), an off-centre crop (the face near a corner of a window 3.5 x its size), and the photo at half
  size: 15 photos.
- lfw_faces / lfw_nonfaces: scikit-image's `lfw_subset` (100 faces, then 100 non-faces, 25 x 25 grey crops),
  each upscaled 8x (bicubic) to 200 x 200 and pasted with a feathered 12 px edge at a seeded spot of a 640 x 480
  canvas cut from a face-free texture (tinted), the photo then made grey as LFW's crops are. The reference of a
  face is the known landmark box of the crops (`lfw_landmark_box`), moved with it.
- lfw_faces_rot: the 100 faces turned +15 and -15 degrees in turn before pasting.
- textures: 100 canvases without a crop (negatives).

A detection is "on the face" (`tools.photos.finds_face`) when its box's centre is inside the reference landmark
box with a 10% margin and its size is 0.4-2.5 x that box's. A "face" in a photo without one is a false positive.

    python -m tools.real_photos --sheet sheet.png   # the portraits with their reference landmarks, to check by eye
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tools.photos import finds_face

SEED = 1_000_003
REFERENCE = Path(__file__).with_name("real_photo_landmarks.json")
TEXTURES = ("brick", "grass", "gravel", "text", "page", "moon", "coffee")  # scikit-image's, none with a face
FACES, NON_FACES = range(0, 100), range(100, 200)  # lfw_subset's order


@dataclass(frozen=True)
class RealPhoto:
    """name; image (H, W, 3) uint8 RGB; reference (N, 2) photo pixels (68 landmarks, or a landmark box's
    corners) or None when the photo holds no face; view "front" or "side"."""

    name: str
    image: np.ndarray
    reference: np.ndarray | None
    view: str = "front"


def on_the_face(box: tuple[float, float, float, float] | None, photo: RealPhoto) -> bool:
    return box is not None and photo.reference is not None and finds_face(box, photo.reference)


@functools.cache
def _reference() -> dict:
    return json.loads(REFERENCE.read_text())


def rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3]).astype(np.uint8)


@functools.cache
def portrait_images() -> dict[str, np.ndarray]:
    import matplotlib.cbook as cbook
    from skimage import data

    from frontside.images import read_photo

    grace = read_photo(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return {"astronaut": rgb(data.astronaut()), "camera": rgb(data.camera()), "grace_hopper": grace}


def portraits() -> list[RealPhoto]:
    refs = _reference()["portraits"]
    return [RealPhoto(name, image, np.asarray(refs[name], np.float64)) for name, image in portrait_images().items()]


def rotate_about(image: np.ndarray, points: np.ndarray | None, centre, degrees: float):
    """The image turned `degrees` counter-clockwise about `centre` (reflected border) and the points with it."""
    m = cv2.getRotationMatrix2D((float(centre[0]) - 0.5, float(centre[1]) - 0.5), degrees, 1.0)
    out = cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)
    if points is None:
        return out, None
    return out, (np.asarray(points, np.float64) - 0.5) @ m[:, :2].T + m[:, 2] + 0.5


def portraits_aug() -> list[RealPhoto]:
    out = []
    for p in portraits():
        img, ref = p.image, p.reference
        lo, hi = ref.min(0), ref.max(0)
        centre, size = (lo + hi) / 2, float((hi - lo).sum()) / 2
        for degrees in (15, -15):
            turned, turned_ref = rotate_about(img, ref, centre, degrees)
            out.append(RealPhoto(f"{p.name}_rot{degrees:+d}", turned, turned_ref))
        h, w = img.shape[:2]
        half = 1.1 * size
        x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
        x1, y1 = int(min(w, centre[0] + half)), int(min(h, centre[1] + half))
        out.append(RealPhoto(f"{p.name}_tight", np.ascontiguousarray(img[y0:y1, x0:x1]), ref - [x0, y0]))
        side = int(3.5 * size)
        x0, y0 = int(max(0, lo[0] - 0.15 * size)), int(max(0, lo[1] - 0.35 * size))
        out.append(RealPhoto(f"{p.name}_corner", np.ascontiguousarray(img[y0:min(h, y0 + side), x0:min(w, x0 + side)]),
                             ref - [x0, y0]))
        out.append(RealPhoto(f"{p.name}_half", cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                             ref / 2.0))
    return out


@functools.cache
def _textures() -> tuple[np.ndarray, ...]:
    from skimage import data

    return tuple(rgb(getattr(data, name)()) for name in TEXTURES)


def texture_canvas(rng: np.random.Generator, height: int = 480, width: int = 640) -> np.ndarray:
    """A random window of a random face-free texture, magnified 1-1.6x, tinted per channel."""
    textures = _textures()
    t = textures[int(rng.integers(len(textures)))]
    scale = max(height / t.shape[0], width / t.shape[1]) * rng.uniform(1.0, 1.6)
    t = cv2.resize(t, (int(np.ceil(t.shape[1] * scale)), int(np.ceil(t.shape[0] * scale))),
                   interpolation=cv2.INTER_LINEAR)
    y, x = int(rng.integers(0, t.shape[0] - height + 1)), int(rng.integers(0, t.shape[1] - width + 1))
    canvas = t[y:y + height, x:x + width].astype(np.float32) * rng.uniform(0.7, 1.15, size=3)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def feather_paste(canvas: np.ndarray, patch: np.ndarray, x: int, y: int, feather: int = 12) -> np.ndarray:
    h, w = patch.shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[feather:h - feather, feather:w - feather] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), feather / 2.0)[..., None]
    out = canvas.astype(np.float32)
    out[y:y + h, x:x + w] = out[y:y + h, x:x + w] * (1 - mask) + patch.astype(np.float32) * mask
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@functools.cache
def _lfw_crops() -> np.ndarray:
    from skimage import data

    return data.lfw_subset()


def lfw_photo(index: int, rotate: bool = False) -> RealPhoto:
    """lfw_subset's crop `index` (0-99 faces, 100-199 non-faces) as a 640 x 480 grey photo (module text)."""
    rng = np.random.default_rng([SEED, index, int(rotate)])
    big = rgb(cv2.resize((_lfw_crops()[index] * 255).round().astype(np.uint8), (200, 200),
                         interpolation=cv2.INTER_CUBIC))
    ref = None
    if index in FACES:
        (x0, y0), (x1, y1) = np.asarray(_reference()["lfw_landmark_box"]) * 8.0
        ref = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]])
    if rotate:
        big, ref = rotate_about(big, ref, (100, 100), 15.0 if index % 2 == 0 else -15.0)
    canvas = texture_canvas(rng)
    x, y = int(rng.integers(0, 640 - 200 + 1)), int(rng.integers(0, 480 - 200 + 1))
    grey = cv2.cvtColor(feather_paste(canvas, big, x, y), cv2.COLOR_RGB2GRAY)
    return RealPhoto(f"lfw{index:03d}{'_rot' if rotate else ''}", rgb(grey), None if ref is None else ref + [x, y])


def lfw(indices: range | list[int], rotate: bool = False) -> list[RealPhoto]:
    return [lfw_photo(i, rotate) for i in indices]


def textures(n: int = 100) -> list[RealPhoto]:
    return [RealPhoto(f"tex{i:03d}", texture_canvas(np.random.default_rng([SEED, 7, i])), None) for i in range(n)]


SETS: dict[str, Callable[[], list[RealPhoto]]] = {
    "portraits": portraits,
    "portraits_aug": portraits_aug,
    "lfw_faces": lambda: lfw(FACES),
    "lfw_faces_rot": lambda: lfw(FACES, rotate=True),
    "lfw_nonfaces": lambda: lfw(NON_FACES),
    "textures": textures,
}


def score(detect: Callable[[np.ndarray, str], object], photos: list[RealPhoto]) -> dict:
    """{"photos", "faces", "on_face", "false_positives", "missed": [names]} of a detector (`detect(image, view)` ->
    an object with `.box`, or None) over photos: boxes on the face among photos with one, "faces" found in
    photos without one."""
    on_face, false_positives, missed = 0, 0, []
    for photo in photos:
        found = detect(photo.image, photo.view)
        if photo.reference is None:
            false_positives += found is not None
        elif on_the_face(None if found is None else found.box, photo):
            on_face += 1
        else:
            missed.append(photo.name)
    faces = sum(p.reference is not None for p in photos)
    return {"photos": len(photos), "faces": faces, "on_face": on_face, "false_positives": false_positives,
            "missed": missed}


def sheet(photos: list[RealPhoto], path: str | Path, width: int = 4) -> Path:
    """A contact sheet of the photos, each with its reference points drawn, to check the references by eye."""
    from frontside.pictures import write_png

    tiles = []
    for p in photos:
        tile = p.image.copy()
        for x, y in (p.reference if p.reference is not None else np.zeros((0, 2))):
            cv2.circle(tile, (int(x), int(y)), max(1, tile.shape[0] // 200), (255, 0, 0), -1)
        tiles.append(cv2.resize(tile, (256, int(256 * tile.shape[0] / tile.shape[1]))))
    rows = [tiles[i:i + width] for i in range(0, len(tiles), width)]
    height = max(t.shape[0] for t in tiles)
    canvas = np.zeros((height * len(rows), 256 * width, 3), np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas[r * height:r * height + tile.shape[0], c * 256:(c + 1) * 256] = tile
    return Path(write_png(path, canvas))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="draw a set with its references")
    parser.add_argument("--sheet", required=True)
    parser.add_argument("--set", default="portraits", choices=sorted(SETS))
    args = parser.parse_args()
    print(sheet(SETS[args.set](), args.sheet))
