"""`reconstruct --preview`: the two photos with their boxes and landmarks over the mesh seen from three sides."""

from __future__ import annotations

import numpy as np
import trimesh
from PIL import Image, ImageDraw

from frontside.geometry.raster import rasterize_values
from frontside.geometry.transforms import rotation_matrix

TILE = 256
DETECTION, CROP, LANDMARK = (255, 200, 0), (0, 220, 255), (255, 40, 40)


def shaded_view(vertices: np.ndarray, triangles: np.ndarray, yaw: float, size: int = TILE) -> np.ndarray:
    """(size, size, 3) uint8 grey Lambert shading of a mesh (N, 3) (y up) turned by `yaw` degrees about its
    centre, lit from the viewer, fitted to the tile."""
    v = np.asarray(vertices, np.float64)
    centre = (v.min(axis=0) + v.max(axis=0)) / 2.0
    turned = (v - centre) @ rotation_matrix(yaw, 0.0, 0.0).T
    extent = max(float(np.ptp(turned[:, :2], axis=0).max()), 1e-6)
    xy = turned[:, :2] * (0.9 * size / extent) * [1.0, -1.0] + size / 2.0
    normals = trimesh.Trimesh(turned, triangles, process=False).vertex_normals
    shade, covered = rasterize_values(xy, turned[:, 2], triangles, np.abs(normals[:, 2:3]).astype(np.float32),
                                      size, size)
    grey = np.where(covered, 40.0 + 200.0 * shade[..., 0], 255.0)
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _photo_tile(image: np.ndarray, boxes: list[tuple[list[float], tuple]], landmarks: np.ndarray | None,
                height: int = TILE) -> Image.Image:
    """The photo scaled to `height` with boxes ([x, y, w, h] in photo pixels, colour) and landmarks (68, 2)."""
    scale = height / image.shape[0]
    tile = Image.fromarray(np.ascontiguousarray(image[..., :3])).resize(
        (max(1, round(image.shape[1] * scale)), height), Image.BILINEAR)
    draw = ImageDraw.Draw(tile)
    for (x, y, w, h), colour in boxes:
        draw.rectangle([x * scale, y * scale, (x + w) * scale, (y + h) * scale], outline=colour, width=2)
    if landmarks is not None:
        for x, y in np.asarray(landmarks, np.float64) * scale:
            draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=LANDMARK)
    return tile


def preview_picture(front: dict, side: dict | None, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: top row the photos (yellow: detection, cyan: final crop, red: landmarks), bottom row the
    mesh from 60 degrees left, the front, 60 degrees right.

    front / side: {"image": (H, W, 3) uint8, "boxes": [([x, y, w, h], colour), ...], "landmarks": (68, 2) | None}.
    """
    photos = [_photo_tile(v["image"], v["boxes"], v.get("landmarks")) for v in (front, side) if v is not None]
    views = [Image.fromarray(shaded_view(vertices, triangles, yaw)) for yaw in (-60.0, 0.0, 60.0)]
    width = max(sum(p.width for p in photos), TILE * len(views))
    canvas = Image.new("RGB", (width, 2 * TILE), (255, 255, 255))
    x = 0
    for p in photos:
        canvas.paste(p, (x, 0))
        x += p.width
    for i, v in enumerate(views):
        canvas.paste(v, (i * TILE, TILE))
    return np.asarray(canvas)
