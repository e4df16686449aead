"""Renders closer to photographs (issue 22, domain randomisation): skin detail, painted eyes, brows and lashes,
occluders, and camera effects, each an option of `generate --realism` (default none: the renders of before,
byte for byte).

    skin       the face's albedo varies over the face (per vertex, before rendering): blotches, redness of cheeks
               and nose, freckles, pores, lips
    eyes       in each view's pixels: sclera, an iris of a drawn colour and a pupil where the eyes are (the view's
               segmentation), brows of the face's hair colour with strands, lashes along the upper lids
    occluders  in each view's pixels: hair over the forehead, a hat, glasses, a hand; covered pixels become
               `Part.OCCLUDER` in the view's segmentation (landmark visibility stays geometric)
    camera     per view: the lens's field of view (7-28 degrees about the face; the default camera has 12: the
               row's camera records it exactly), then defocus, motion blur, vignetting, white balance, sensor
               noise and JPEG

Every draw comes from its own stream of the face's seed (`realism_rng`: option x view), so a dataset's bytes
depend on (seed, options) only, and turning one option on leaves every other draw of the face as it was; what was
drawn is recorded in the row (`Face.realism`, the shard's `realism` column, JSON). Images are (S, S, 3) uint8 RGB
crops, landmarks (68, 2) in their pixels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image

from frontside.facemodel.model import FaceMesh
from frontside.store.records import Part, ViewLabels
from frontside.synthesis.config import REALISM_OPTIONS, parse_realism

OPTIONS = REALISM_OPTIONS
_APPEARANCE = len(OPTIONS)  # the stream of what several options share: hair and iris colour


def realism_options(value: str) -> tuple[str, ...]:
    """("skin", ...) of a realism option list ("none", "all", "skin,camera", ...; `config.parse_realism`)."""
    value = parse_realism("realism", value)
    return () if value == "none" else tuple(value.split(","))


def realism_rng(seed: int, face_index: int, stream: int, view: int = 0) -> np.random.Generator:
    """The generator of one option (`OPTIONS` index, or the shared appearance) for a face (view 0) or for its
    view k (view k + 1): a child of the face's SeedSequence apart from the face's own draws and its extra views'
    (spawn key (0,))."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(face_index)],
                                                        spawn_key=(1, int(stream), int(view))))


def _r(x: float) -> float:
    return round(float(x), 4)


# ---------------------------------------------------------------------------------------------------- appearance

HAIR_COLOURS = np.array([[0.06, 0.05, 0.04], [0.17, 0.11, 0.07], [0.32, 0.2, 0.12], [0.55, 0.4, 0.24],
                         [0.75, 0.6, 0.38], [0.45, 0.18, 0.08], [0.6, 0.58, 0.55]])  # black .. blond, red, grey
IRIS_COLOURS = np.array([[0.25, 0.14, 0.07], [0.4, 0.25, 0.12], [0.42, 0.36, 0.18], [0.3, 0.45, 0.6],
                         [0.35, 0.5, 0.4], [0.45, 0.48, 0.5]])  # dark brown, brown, hazel, blue, green, grey


@dataclass(frozen=True)
class Appearance:
    """What the options share for one face: hair colour (3,) and iris colour (3,) in [0, 1] linear-ish RGB."""

    hair: np.ndarray
    iris: np.ndarray

    def as_dict(self) -> dict:
        return {"hair": [_r(v) for v in self.hair], "iris": [_r(v) for v in self.iris]}


def draw_appearance(rng: np.random.Generator) -> Appearance:
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2, 3)
    iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.8, 1.2, 3)
    return Appearance(np.clip(hair, 0, 1), np.clip(iris, 0, 1))


# ---------------------------------------------------------------------------------------------------- skin

def _f32(values) -> np.ndarray:
    return np.asarray(values, np.float32)


def _blob(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """(N,) a Gaussian bump of `radius` round `centre` (3,) at points (N, 3) (float32: 29k vertices a face)."""
    d = points - centre.astype(points.dtype)
    return np.exp((d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2]) * np.float32(-0.5 / radius ** 2))


def skin_detail(face: FaceMesh, parts: np.ndarray, rng: np.random.Generator) -> tuple[FaceMesh, dict]:
    """The face with its per-vertex albedo varied (blotches, redness, freckles, pores, lips) and what was drawn.
    parts: (N,) uint8 `Part` of each vertex."""
    colours = np.asarray(face.colours, np.float32)
    points = np.asarray(face.vertices, np.float32)
    lm = points[np.asarray(face.landmarks)]
    scale = float(np.linalg.norm(lm[36] - lm[45]))  # the eyes' outer corners: about 9 cm on a person
    on_face = np.isin(parts, [Part.SKIN, Part.NOSE, Part.BROWS])
    record: dict = {}
    # blotches: broad patches a little darker or redder
    count = int(rng.integers(3, 9))
    tint = np.ones_like(colours)
    for _ in range(count):
        centre = points[rng.choice(np.flatnonzero(on_face))]
        weight = _blob(points, centre, scale * rng.uniform(0.1, 0.35))[:, None]
        tint *= 1.0 + weight * np.float32(rng.normal(0.0, 0.06)) * _f32([1.0, 1.25, 1.25]) ** int(rng.choice([-1, 1]))
    record["blotches"] = count
    # redness of the cheeks and the nose
    redness = float(rng.uniform(0.0, 0.15))
    cheeks = _blob(points, (lm[2] + lm[31]) / 2, 0.2 * scale) + _blob(points, (lm[14] + lm[35]) / 2, 0.2 * scale)
    nose = _blob(points, lm[30], 0.12 * scale)
    red = np.float32(redness) * np.clip(cheeks + np.float32(0.7) * nose, 0, 1)[:, None]
    tint *= 1.0 + red * _f32([0.6, -0.5, -0.4])
    record["redness"] = _r(redness)
    # freckles: small dark spots over the nose and cheeks, on some faces
    freckles = int(rng.integers(40, 250)) if rng.random() < 0.3 else 0
    if freckles:
        zone = np.flatnonzero(on_face & (_blob(points, lm[30], 0.45 * scale) > 0.2))
        spots = rng.choice(zone, size=min(freckles, len(zone)), replace=False)
        tint[spots] *= rng.uniform(0.65, 0.85, (len(spots), 1)) * np.array([1.0, 0.92, 0.85])
    record["freckles"] = freckles
    # pores: fine per-vertex grain
    pores = float(rng.uniform(0.02, 0.07))
    tint *= 1.0 + rng.normal(0.0, pores, (len(points), 1)).astype(np.float32)
    record["pores"] = _r(pores)
    # lips: redder and darker than the skin round them
    lips = float(rng.uniform(0.3, 0.9))
    tint[parts == Part.LIPS] *= 1.0 - lips * np.array([0.1, 0.45, 0.4])
    record["lips"] = _r(lips)
    out = np.clip(colours * tint, 0, 1).astype(np.float32)
    return replace(face, colours=out), record


# ---------------------------------------------------------------------------------------------------- image helpers

def _to_float(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float32) / 255.0


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _streaks(rng: np.random.Generator, size: int, along: float) -> np.ndarray:
    """(size, size) float32 noise of mean ~1 stretched along the direction `along` (radians): hair strands."""
    small = rng.normal(0.0, 1.0, (max(size // 8, 4), size)).astype(np.float32)
    noise = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    turn = cv2.getRotationMatrix2D((size / 2, size / 2), math.degrees(along) - 90.0, 1.0)
    noise = cv2.warpAffine(noise, turn, (size, size), borderMode=cv2.BORDER_REFLECT)
    return 1.0 + 0.35 * np.tanh(noise)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma) if sigma > 0 else mask.astype(np.float32)


# ---------------------------------------------------------------------------------------------------- eyes

def _window(points: np.ndarray, margin: float, size: int) -> tuple[slice, slice] | None:
    """(rows, cols) of the box round points (K, 2) grown by `margin` pixels, inside the image; None if empty."""
    lo = np.floor(points.min(0) - margin).astype(int).clip(0, size)
    hi = np.ceil(points.max(0) + margin).astype(int).clip(0, size)
    return None if (hi <= lo).any() else (slice(lo[1], hi[1]), slice(lo[0], hi[0]))


def _shading(window: np.ndarray, where: np.ndarray) -> np.ndarray:
    """(h, w, 1) the render's brightness in `window` (h, w, 3) relative to its median over `where`: the light and
    shadow a painted part keeps."""
    brightness = window.mean(2)
    return np.clip(brightness / max(float(np.median(brightness[where])), 1e-3), 0.3, 1.4)[..., None]


def paint_eyes(image: np.ndarray, labels: ViewLabels, appearance: Appearance,
               rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Sclera, iris and pupil inside each eye's pixels (segmentation EYES), brows of the hair colour with
    strands, lashes along the upper lids; each shaded by the render's own brightness there. (image, record)."""
    out = _to_float(image)
    size = out.shape[0]
    seg, lm, seen = labels.segmentation, labels.landmarks[:, :2].astype(np.float64), labels.visible
    gaze = rng.normal(0.0, 0.08, 2)
    iris_radius = float(rng.uniform(0.2, 0.25))
    record = {"gaze": [_r(g) for g in gaze], "iris_radius": _r(iris_radius)}
    for corners, ring in (((36, 39), list(range(36, 42))), ((42, 45), list(range(42, 48)))):
        a, b = lm[corners[0]], lm[corners[1]]
        width = float(np.linalg.norm(b - a))
        box = _window(lm[ring], 0.3 * width + 2, size)
        if not seen[ring].any() or width < 1.0 or box is None:
            continue
        u = (b - a) / width
        centre = lm[ring].mean(0) + (gaze[0] * u + gaze[1] * np.array([-u[1], u[0]])) * width
        yy, xx = np.mgrid[box[0], box[1]].astype(np.float64) + 0.5
        # the iris is a disc on the eyeball: across the eye it is foreshortened as the eye's width is
        along = ((xx - centre[0]) * u[0] + (yy - centre[1]) * u[1]) / width
        across = ((xx - centre[0]) * -u[1] + (yy - centre[1]) * u[0]) / width
        r = np.sqrt(along ** 2 + across ** 2)
        here = (seg[box] == Part.EYES) & (np.abs(along) < 0.8) & (np.abs(across) < 0.6)
        if not here.any():
            continue
        window = out[box]
        shade = _shading(window, here)
        sclera = np.array([0.86, 0.82, 0.8]) * rng.uniform(0.85, 1.0)
        iris_ring = appearance.iris * (0.75 + 0.5 * np.clip(1 - r / iris_radius, 0, 1))[..., None]
        colour = np.where((r < iris_radius)[..., None], iris_ring, sclera)
        colour = np.where((r < 0.42 * iris_radius)[..., None], np.array([0.03, 0.03, 0.03]), colour)
        window[here] = np.clip(colour[here] * shade[here] * 0.85, 0, 1)
        # lashes: a dark line along the upper lid (its 4 landmarks) where they are seen
        upper = [k for k in ring[:4] if seen[k]]
        if len(upper) >= 2:
            mask = np.zeros((size, size), np.uint8)
            thickness = max(1, round(size / 256 * rng.uniform(1.0, 2.2)))
            cv2.polylines(mask, [np.round(lm[upper] * 4).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, 2)
            alpha = (mask[box].astype(np.float32) / 255.0 * rng.uniform(0.6, 0.95))[..., None]
            window[:] = window * (1 - alpha) + appearance.hair * 0.5 * alpha
    brows = seg == Part.BROWS
    box = _window(lm[17:27], 0.15 * float(np.ptp(lm[17:27, 0])) + 2, size)
    if box is not None and brows[box].any():
        density = float(rng.uniform(0.4, 0.9))
        direction = math.atan2(*(lm[26] - lm[17])[::-1])
        strands = _streaks(rng, size, direction)[box][..., None]
        window = out[box]
        shade = _shading(window, brows[box])
        hair = np.clip(appearance.hair * strands * shade, 0, 1)
        alpha = _feather(brows[box], 0.8 * size / 256)[..., None] * density
        window[:] = window * (1 - alpha) + hair * alpha
        record["brow_density"] = _r(density)
    return _to_uint8(out), record


# ---------------------------------------------------------------------------------------------------- occluders

OCCLUDER_CHANCES = {"hair": 0.5, "hat": 0.12, "glasses": 0.25, "hand": 0.1}


def add_occluders(image: np.ndarray, labels: ViewLabels, appearance: Appearance,
                  rng: np.random.Generator) -> tuple[np.ndarray, ViewLabels, list[dict]]:
    """Hair over the forehead, a hat, glasses and a hand, each drawn with its chance (`OCCLUDER_CHANCES`); the
    pixels they cover become `Part.OCCLUDER`. (image, labels, [{"kind", "pixels" (how many it covers, 0 when it
    fell outside the crop), its draws} of each drawn])."""
    out = _to_float(image)
    size = out.shape[0]
    seg = labels.segmentation.copy()
    lm, seen = labels.landmarks[:, :2].astype(np.float64), labels.visible
    lo, hi = lm.min(0), lm.max(0)
    width, height = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    centre_x = float((lo[0] + hi[0]) / 2)
    brow_y = float(lm[17:27, 1].min())
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    drawn: list[dict] = []
    skin = out[seg == Part.SKIN].mean(0) if (seg == Part.SKIN).any() else np.array([0.6, 0.45, 0.35])

    def lay(mask: np.ndarray, colour: np.ndarray, sigma: float = 1.0) -> int:
        """Lay the occluder on the image; the pixels it covers (alpha > 0.5)."""
        nonlocal out
        alpha = np.clip(_feather(mask, sigma * size / 256), 0, 1)[..., None]
        out = out * (1 - alpha) + np.clip(colour, 0, 1) * alpha
        covered = alpha[..., 0] > 0.5
        seg[covered] = Part.OCCLUDER
        return int(covered.sum())

    for kind in ("hair", "hat", "glasses", "hand"):
        if rng.random() >= OCCLUDER_CHANCES[kind]:
            continue
        if kind == "hair":
            reach = float(rng.uniform(-0.08, 0.3))  # the fringe's edge: below the brows' top (< 0) or above
            wave, phase = float(rng.uniform(0.0, 0.06)), float(rng.uniform(0, 2 * math.pi))
            droop = float(rng.uniform(0.0, 0.6))
            edge = (brow_y - reach * height + wave * height * np.sin(xx / max(width, 1) * 9 + phase)
                    + droop * height * ((xx - centre_x) / (0.5 * width)) ** 2)  # hair falls lower at the sides
            # the head's crown: over the face's middle in a front view, over the ear in a profile
            ears = [k for k in (0, 16) if seen[k]]
            middle, half = centre_x, 0.7 * width
            if len(ears) == 1:
                to_nose = float(lm[30, 0] - lm[ears[0], 0])
                middle, half = float(lm[ears[0], 0]) + 0.25 * to_nose, max(0.95 * abs(to_nose), half)
            cap = ((xx - middle) / half) ** 2 + ((yy - brow_y - 0.15 * height) / (0.85 * height)) ** 2 < 1
            mask = cap & (yy < edge) & (yy < brow_y + 0.25 * height)
            strands = _streaks(rng, size, math.pi / 2 + rng.normal(0, 0.3))[..., None]
            pixels = lay(mask, appearance.hair[None, None] * strands, 1.2)
            drawn.append({"kind": kind, "pixels": pixels, "reach": _r(reach), "droop": _r(droop)})
        elif kind == "hat":
            colour = rng.uniform(0.05, 0.9, 3)
            top = brow_y - float(rng.uniform(0.12, 0.35)) * height
            crown = ((xx - centre_x) / (0.62 * width)) ** 2 + ((yy - top + 0.35 * height) / (0.45 * height)) ** 2 < 1
            brim = ((xx - centre_x) / (0.85 * width)) ** 2 + ((yy - top) / (0.07 * height)) ** 2 < 1
            mask = (crown & (yy < top)) | brim
            shade = (0.75 + 0.3 * np.clip((yy - (top - 0.8 * height)) / height, 0, 1))[..., None]
            pixels = lay(mask, colour[None, None] * shade, 0.8)
            drawn.append({"kind": kind, "pixels": pixels, "top": _r(top), "colour": [_r(c) for c in colour]})
        elif kind == "glasses":
            rim = rng.uniform(0.0, 0.5, 3) * rng.uniform(0.2, 1.0)
            thickness = max(1, round(size / 256 * rng.uniform(1.2, 3.0)))
            lens_scale = float(rng.uniform(0.8, 1.0))
            mask = np.zeros((size, size), np.uint8)
            outer = []
            for a, b in ((36, 39), (42, 45)):
                if not (seen[a] or seen[b]):
                    continue
                centre = (lm[a] + lm[b]) / 2
                axis = lm[b] - lm[a]
                angle = math.degrees(math.atan2(axis[1], axis[0]))
                half = float(np.linalg.norm(axis)) * lens_scale
                if half < 2:
                    continue
                cv2.ellipse(mask, (round(centre[0] * 4), round(centre[1] * 4)),
                            (round(half * 4), round(0.72 * half * 4)), angle, 0, 360, 255, thickness, cv2.LINE_AA, 2)
                outer.append((centre, axis / max(np.linalg.norm(axis), 1e-6), half))
            if not outer:
                continue
            if len(outer) == 2:
                (c0, u0, h0), (c1, u1, h1) = outer
                cv2.line(mask, tuple(np.round((c0 + u0 * h0) * 4).astype(int)),
                         tuple(np.round((c1 - u1 * h1) * 4).astype(int)), 255, thickness, cv2.LINE_AA, 2)
            for (c, u, h), ear in zip(outer, (0, 16), strict=False):
                start = c - u * h if ear == 0 else c + u * h
                cv2.line(mask, tuple(np.round(start * 4).astype(int)), tuple(np.round(lm[ear] * 4).astype(int)),
                         255, thickness, cv2.LINE_AA, 2)
            pixels = lay(mask.astype(np.float32) / 255.0 > 0.35, rim[None, None], 0.5)
            drawn.append({"kind": kind, "pixels": pixels, "rim": [_r(c) for c in rim], "lens_scale": _r(lens_scale)})
        else:  # a hand at the jaw or cheek, fingers toward the face's middle
            j = int(rng.integers(3, 14))
            toward = np.array([centre_x, (brow_y + hi[1]) / 2]) - lm[j]
            toward /= max(float(np.linalg.norm(toward)), 1e-6)
            palm = lm[j] - toward * 0.22 * width
            angle = math.degrees(math.atan2(toward[1], toward[0]))
            mask = np.zeros((size, size), np.uint8)
            cv2.ellipse(mask, tuple(np.round(palm * 4).astype(int)),
                        (round(0.3 * width * 4), round(0.22 * width * 4)), angle, 0, 360, 255, -1, cv2.LINE_AA, 2)
            side = np.array([-toward[1], toward[0]])
            for f in range(4):
                tip = palm + toward * 0.38 * width + side * (f - 1.5) * 0.09 * width
                cv2.line(mask, tuple(np.round(palm * 4).astype(int)), tuple(np.round(tip * 4).astype(int)),
                         255, max(1, round(0.08 * width)), cv2.LINE_AA, 2)
            light = np.clip(((xx - palm[0]) * toward[0] + (yy - palm[1]) * toward[1]) / width, -0.5, 0.5)
            colour = skin * rng.uniform(0.85, 1.15) * (0.95 + 0.25 * light)[..., None]
            pixels = lay(mask > 127, colour, 1.0)
            drawn.append({"kind": kind, "pixels": pixels, "at_landmark": j})
    return _to_uint8(out), replace(labels, segmentation=seg), drawn


# ---------------------------------------------------------------------------------------------------- camera

def draw_fov(rng: np.random.Generator) -> float:
    """The lens's field of view about the face for one view, degrees: log-uniform 7-28 (a long portrait lens to a
    phone held at arm's length). Drawn first of the view's camera draws, before rendering."""
    return float(np.exp(rng.uniform(np.log(7.0), np.log(28.0))))


def camera_effects(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Defocus, motion blur, vignetting, white balance, sensor noise and JPEG, in that order (optics, then the
    sensor, then the file), each with its chance. (image, record)."""
    out = _to_float(image)
    size = out.shape[0]
    record: dict = {}
    if rng.random() < 0.3:
        sigma = float(rng.uniform(0.5, 1.6)) * size / 256
        out = cv2.GaussianBlur(out, (0, 0), sigma)
        record["defocus_sigma"] = _r(sigma)
    if rng.random() < 0.2:
        length, angle = int(rng.integers(3, 10)), float(rng.uniform(0, 180))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0
        turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
        kernel = cv2.warpAffine(kernel, turn, (length, length))
        out = cv2.filter2D(out, -1, kernel / max(float(kernel.sum()), 1e-6), borderType=cv2.BORDER_REFLECT)
        record["motion_blur"] = {"length": length, "angle": _r(angle)}
    if rng.random() < 0.5:
        strength = float(rng.uniform(0.1, 0.45))
        yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size - 0.5
        out = out * (1.0 - strength * 2.0 * (xx ** 2 + yy ** 2))[..., None]
        record["vignetting"] = _r(strength)
    gains = rng.normal(1.0, 0.06, 3)
    out = out * gains.astype(np.float32)
    record["white_balance"] = [_r(g) for g in gains]
    read, shot = float(rng.uniform(0.0, 5.0)) / 255, float(rng.uniform(0.0, 0.04))
    noise = rng.normal(0.0, 1.0, out.shape).astype(np.float32)
    out = out + noise * np.sqrt(read ** 2 + shot ** 2 * np.clip(out, 0, 1))
    record["noise"] = {"read": _r(read * 255), "shot": _r(shot)}
    result = _to_uint8(out)
    if rng.random() < 0.5:
        quality = int(rng.integers(35, 96))
        buffer = io.BytesIO()
        Image.fromarray(result).save(buffer, format="JPEG", quality=quality)
        result = np.asarray(Image.open(buffer).convert("RGB"))
        record["jpeg_quality"] = quality
    return result, record


# ---------------------------------------------------------------------------------------------------- a face

@dataclass(frozen=True)
class FaceRealism:
    """The realism of one face of a dataset: its options (`OPTIONS` subset), seed and index (the streams)."""

    options: tuple[str, ...]
    seed: int
    face_index: int

    def rng(self, option: str, view: int | None = None) -> np.random.Generator:
        stream = _APPEARANCE if option == "appearance" else OPTIONS.index(option)
        return realism_rng(self.seed, self.face_index, stream, 0 if view is None else view + 1)

    def appearance(self) -> Appearance:
        return draw_appearance(self.rng("appearance"))

    def fovs(self, views: int) -> list[float] | None:
        """Each view's field of view (degrees) with the camera option, else None (the renderer's own)."""
        return [draw_fov(self.rng("camera", k)) for k in range(views)] if "camera" in self.options else None

    def apply_to_face(self, face: FaceMesh, parts: np.ndarray) -> tuple[FaceMesh, dict]:
        """(face, record): skin detail on the face's albedo when that option is on."""
        if "skin" not in self.options or face.colours is None:
            return face, {}
        face, record = skin_detail(face, parts, self.rng("skin"))
        return face, {"skin": record}

    def apply_to_views(self, images: Sequence[np.ndarray], labels: Sequence[ViewLabels],
                       fovs: Sequence[float] | None) -> tuple[list[np.ndarray], list[ViewLabels], list[dict]]:
        """Each view's image (over its background) and labels after eyes, occluders and camera effects, and what
        was drawn in each view."""
        appearance = self.appearance()
        out_images, out_labels, records = [], [], []
        for k, (image, view_labels) in enumerate(zip(images, labels, strict=True)):
            record: dict = {}
            if "eyes" in self.options:
                image, record["eyes"] = paint_eyes(image, view_labels, appearance, self.rng("eyes", k))
            if "occluders" in self.options:
                image, view_labels, record["occluders"] = add_occluders(image, view_labels, appearance,
                                                                        self.rng("occluders", k))
            if "camera" in self.options:
                rng = self.rng("camera", k)
                draw_fov(rng)  # the first draw of this stream: the lens, used before rendering (`fovs`)
                image, record["camera"] = camera_effects(image, rng)
                if fovs is not None:
                    record["camera"]["fov_deg"] = _r(fovs[k])
            out_images.append(image)
            out_labels.append(view_labels)
            records.append(record)
        return out_images, out_labels, records

    def header(self) -> dict:
        return {"options": list(self.options), "appearance": self.appearance().as_dict()}
