"""How the locator's weights are made: rendered heads ("sprites") pasted over backgrounds at random places, sizes
and turns, then the two stages trained on them. `benchmarks/train_locator.py` runs this recipe; the same seed and
thread count give the same weights, byte for byte.

Every training image is a function of (seed, stage, step, index): `sample_rng`.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from frontside.geometry.crop import landmark_crop, warp_image
from frontside.reconstruct.locator import (
    PAD_VALUE,
    STRIDE,
    BoxNet,
    LandmarkNet,
    LocatorSpec,
    to_tensor,
)

# iBUG 68-point order under a left-right mirror: the landmark that lands where landmark i was.
MIRROR_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


@dataclass(frozen=True)
class Sprite:
    """One rendered head cut to its coverage: rgba (h, w, 4) uint8 with premultiplied colour, landmarks (68, 2)
    float32 in its pixels (all 68 projected, hidden ones too), the rendered yaw in degrees."""

    rgba: np.ndarray
    landmarks: np.ndarray
    yaw: float


def render_sprites(seed: int, indices, size: int = 320, source_spec: str = "builtin") -> list[Sprite]:
    """The front and side view of faces `indices` of a dataset with `seed` (the draws of `make_face`: the face,
    then `sample_poses`), each rendered at size x size and cut to its alpha box."""
    from frontside.renderers.pyrender_renderer import PyrenderRenderer
    from frontside.synthesis.generate import face_rng, make_source
    from frontside.synthesis.pairs import sample_poses

    source, renderer = make_source(source_spec), PyrenderRenderer()
    sprites = []
    for index in indices:
        rng = face_rng(seed, index)
        face = source.face(rng, f"{source.kind}-{index:06d}")
        for pose in sample_poses(rng):
            view = renderer.render(face, pose, size, rng)
            rows, cols = np.nonzero(view.image[..., 3])
            top, left = max(rows.min() - 2, 0), max(cols.min() - 2, 0)
            rgba = view.image[top:rows.max() + 3, left:cols.max() + 3].astype(np.float32)
            rgba[..., :3] *= rgba[..., 3:] / 255.0
            landmarks = view.vertices[face.landmarks, :2] - np.array([left, top], np.float32)
            sprites.append(Sprite(np.round(rgba).astype(np.uint8), landmarks.astype(np.float32), pose.yaw))
    return sprites


def mirrored(sprite: Sprite) -> Sprite:
    """The sprite flipped left-right, its landmarks renumbered as the mirrored face's."""
    w = sprite.rgba.shape[1]
    landmarks = sprite.landmarks[MIRROR_68] * [-1.0, 1.0] + [w, 0.0]
    return Sprite(np.ascontiguousarray(sprite.rgba[:, ::-1]), landmarks.astype(np.float32), -sprite.yaw)


def background_pool(seed: int, count: int, size: int = 192) -> np.ndarray:
    """(count, size, size, 3) uint8 backgrounds (`renderers.backgrounds`' built-in textures and patterns)."""
    from frontside.renderers.backgrounds import Backgrounds

    backgrounds = Backgrounds.from_folder(None)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    return np.stack([backgrounds.sample(rng, size, size) for _ in range(count)])


def sample_rng(seed: int, stage: int, step: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stage, step, index]))


def _background(pool: np.ndarray, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random background of height x width: a pool image, flipped or not, resized, colour-shifted."""
    image = pool[rng.integers(len(pool))]
    if rng.random() < 0.5:
        image = image[:, ::-1]
    image = cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(image * rng.uniform(0.6, 1.3, 3), 0, 255).astype(np.uint8)


def _similarity(scale: float, angle_deg: float, source_point: np.ndarray, target_point: np.ndarray) -> np.ndarray:
    """(3, 3) similarity that scales by `scale`, turns by angle (counter-clockwise on screen) and maps
    source_point (2,) onto target_point (2,)."""
    c, s = math.cos(math.radians(angle_deg)) * scale, math.sin(math.radians(angle_deg)) * scale
    a = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    a[:2, 2] = target_point - a[:2, :2] @ source_point
    return a


def paste(sprite: Sprite, a: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sprite through the similarity `a` (sprite pixels -> image pixels) over a square background (S, S, 3):
    ((S, S, 3) uint8, landmarks (68, 2) float64 in the image). A sprite shrunk below 0.7 is first area-averaged,
    as a photo shrunk for the network is."""
    landmarks = sprite.landmarks.astype(np.float64) @ a[:2, :2].T + a[:2, 2]
    scale = float(np.sqrt(abs(np.linalg.det(a[:2, :2]))))
    rgba = sprite.rgba
    if scale < 0.7:
        h, w = rgba.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        rgba = cv2.resize(rgba, (nw, nh), interpolation=cv2.INTER_AREA)
        a = a @ np.diag([w / nw, h / nh, 1.0])
    warped = warp_image(rgba, a, background.shape[0]).astype(np.float32)
    out = warped[..., :3] + background.astype(np.float32) * (1.0 - warped[..., 3:] / 255.0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), landmarks


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photo-like variation of an (S, S, 3) uint8 image: contrast, grey, blur, noise, JPEG."""
    out = image.astype(np.float32)
    out = (out - out.mean()) * rng.uniform(0.7, 1.2) + out.mean() + rng.uniform(-25, 25)
    if rng.random() < 0.15:
        out[:] = out.mean(axis=2, keepdims=True)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.3)))
    out += rng.normal(0.0, rng.uniform(0.0, 6.0), out.shape)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=int(rng.integers(40, 96)))
        out = np.asarray(Image.open(buffer).convert("RGB"))
    return out


ASPECTS = (4 / 3, 3 / 4, 1.0, 3 / 2, 2 / 3, 16 / 9)


def box_sample(sprite: Sprite | None, pool: np.ndarray, rng: np.random.Generator,
               size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """One stage-1 image: a photo of random aspect, letterboxed into size x size, with the sprite at a random
    place, size (landmark box 8-60% of the photo's short side) and turn (±12 degrees), or no face when sprite is
    None. ((size, size, 3) uint8, landmarks (68, 2) in its pixels or None)."""
    aspect = ASPECTS[rng.integers(len(ASPECTS))]
    width, height = (size, round(size / aspect)) if aspect >= 1 else (round(size * aspect), size)
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    photo = _background(pool, rng, size, size)
    landmarks = None
    if sprite is not None:
        sprite = mirrored(sprite) if rng.random() < 0.5 else sprite
        lo, hi = sprite.landmarks.min(axis=0), sprite.landmarks.max(axis=0)
        box = float((hi - lo).sum()) / 2.0
        target = min(width, height) * math.exp(rng.uniform(math.log(0.08), math.log(0.6)))
        margin = 0.35 * target
        centre = np.array([rng.uniform(margin, max(margin, width - margin)),
                           rng.uniform(margin, max(margin, height - margin))])
        a = _similarity(target / box, rng.uniform(-12, 12), (lo + hi) / 2.0, centre)
        photo, landmarks = paste(sprite, a, photo)
    canvas[:height, :width] = degrade(photo, rng)[:height, :width]
    return canvas, landmarks


def landmark_sample(sprite: Sprite, pool: np.ndarray, rng: np.random.Generator,
                    size: int) -> tuple[np.ndarray, np.ndarray]:
    """One stage-2 image: training's landmark crop of the sprite over a background, jittered as a first crop from
    a rough box is (size 0.8-1.25 x, centre ±12% of the box, turn ±12 degrees). ((size, size, 3) uint8,
    landmarks (68, 2) in its pixels)."""
    sprite = mirrored(sprite) if rng.random() < 0.5 else sprite
    lo, hi = sprite.landmarks.min(axis=0), sprite.landmarks.max(axis=0)
    turn = _similarity(1.0, rng.uniform(-12, 12), (lo + hi) / 2.0, (lo + hi) / 2.0)
    turned = sprite.landmarks @ turn[:2, :2].T + turn[:2, 2]
    crop = landmark_crop(turned, out_size=size)
    box = float(np.ptp(turned, axis=0).sum()) / 2.0
    jitter = _similarity(math.exp(rng.uniform(math.log(0.8), math.log(1.25))), 0.0, np.full(2, size / 2.0),
                         np.full(2, size / 2.0) + rng.uniform(-0.12, 0.12, 2) * box * crop[0, 0])
    image, landmarks = paste(sprite, jitter @ crop @ turn, _background(pool, rng, size, size))
    return degrade(image, rng), landmarks


def box_targets(landmarks: list[np.ndarray | None], size: int) -> dict[str, torch.Tensor]:
    """Stage 1's targets on its grid: a Gaussian bump at the landmark box centre's cell (CenterNet), the centre's
    offset in that cell and log(box size / size); `where` marks the centre cells."""
    grid = size // STRIDE
    heat = np.zeros((len(landmarks), grid, grid), np.float32)
    offset = np.zeros((len(landmarks), 2), np.float32)
    log_size = np.zeros(len(landmarks), np.float32)
    cells = np.full((len(landmarks), 2), -1, np.int64)
    yy, xx = np.mgrid[0:grid, 0:grid]
    for i, points in enumerate(landmarks):
        if points is None:
            continue
        lo, hi = points.min(axis=0), points.max(axis=0)
        centre, box = (lo + hi) / 2.0 / STRIDE, float((hi - lo).sum()) / 2.0
        col, row = np.clip(np.floor(centre).astype(int), 0, grid - 1)
        sigma = max(0.6, 0.12 * box / STRIDE)
        heat[i] = np.exp(-((xx - col) ** 2 + (yy - row) ** 2) / (2 * sigma ** 2))
        offset[i] = centre - [col + 0.5, row + 0.5]
        log_size[i] = math.log(box / size)
        cells[i] = (row, col)
    return {"heat": torch.from_numpy(heat), "offset": torch.from_numpy(offset),
            "log_size": torch.from_numpy(log_size), "cells": torch.from_numpy(cells)}


def box_loss(out: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """CenterNet's focal loss on the heat map plus L1 on offset and log size at the centre cells."""
    heat = out[:, 0].sigmoid().clamp(1e-4, 1 - 1e-4)
    target = targets["heat"]
    positive = (target > 0.999).float()
    focal = -(positive * (1 - heat) ** 2 * heat.log()
              + (1 - positive) * (1 - target) ** 4 * heat ** 2 * (1 - heat).log()).sum()
    faces = targets["cells"][:, 0] >= 0
    loss = focal / max(1.0, float(positive.sum()))
    if faces.any():
        idx = torch.nonzero(faces).squeeze(1)
        rows, cols = targets["cells"][idx, 0], targets["cells"][idx, 1]
        at = out[idx, :, rows, cols]  # (F, 4)
        loss = loss + (at[:, 1:3] - targets["offset"][idx]).abs().mean() * 2.0
        loss = loss + (at[:, 3] - targets["log_size"][idx]).abs().mean() * 4.0
    return loss


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 14
    box_steps: int = 1200
    landmark_steps: int = 2400
    batch: int = 32
    lr: float = 2e-3
    negatives: float = 0.1  # share of stage-1 images without a face


def _cosine(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    warm = max(1, steps // 20)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))


def train_box_net(spec: LocatorSpec, sprites: list[Sprite], pool: np.ndarray, settings: TrainSettings,
                  log: Callable[[str], None] = print) -> tuple[BoxNet, list[float]]:
    torch.manual_seed(settings.seed)
    net = BoxNet(spec)
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=1e-4)
    schedule = _cosine(optimizer, settings.box_steps)
    history, start = [], time.perf_counter()
    for step in range(settings.box_steps):
        images, landmarks = [], []
        for i in range(settings.batch):
            rng = sample_rng(settings.seed, 1, step, i)
            sprite = None if rng.random() < settings.negatives else sprites[rng.integers(len(sprites))]
            image, points = box_sample(sprite, pool, rng, spec.box_input)
            images.append(image)
            landmarks.append(points)
        loss = box_loss(net(to_tensor(np.stack(images))), box_targets(landmarks, spec.box_input))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(float(loss.detach()))
        if step % 100 == 0 or step + 1 == settings.box_steps:
            log(f"box step {step}: loss {np.mean(history[-100:]):.4f} ({time.perf_counter() - start:.0f} s)")
    return net.eval(), history


def train_landmark_net(spec: LocatorSpec, sprites: list[Sprite], pool: np.ndarray, settings: TrainSettings,
                       log: Callable[[str], None] = print) -> tuple[LandmarkNet, list[float]]:
    torch.manual_seed(settings.seed + 1)
    net = LandmarkNet(spec)
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=1e-4)
    schedule = _cosine(optimizer, settings.landmark_steps)
    history, start = [], time.perf_counter()
    s = spec.landmark_input
    for step in range(settings.landmark_steps):
        images, targets = [], []
        for i in range(settings.batch):
            rng = sample_rng(settings.seed, 2, step, i)
            image, points = landmark_sample(sprites[rng.integers(len(sprites))], pool, rng, s)
            images.append(image)
            targets.append(points / s - 0.5)
        out = net(to_tensor(np.stack(images)))
        loss = (out - torch.from_numpy(np.stack(targets)).float()).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(float(loss.detach()) * s)  # mean absolute error per coordinate, in crop pixels
        if step % 100 == 0 or step + 1 == settings.landmark_steps:
            log(f"landmark step {step}: L1 {np.mean(history[-100:]):.3f} px ({time.perf_counter() - start:.0f} s)")
    return net.eval(), history
