"""MICC Florence (thesis 5.1): scans in `subject_XX/Model/frontal1/obj/*.obj` with their texture.

For each scan: crop it to the face (a radius around the nose tip), render a front and a side view
orthographically with the scan's texture (as the thesis's MeshLab renders), crop each view to 256 x 256 around
the rendered face, and keep the scan's points in the front crop's frame as ground truth.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frontside.errors import InputFormatError
from frontside.facemodel.model import FaceMesh
from frontside.geometry.crop import warp_image, warp_vertices
from frontside.geometry.mesh_io import read_obj
from frontside.images import read_photo
from frontside.io import write_atomic
from frontside.renderers.backgrounds import composite
from frontside.renderers.view import Pose, RenderedView


@dataclass(frozen=True)
class FlorenceView:
    """One scan ready for evaluation: two 256 x 256 RGB views and the scan's points (M, 3) in the front frame."""

    subject: str
    front: np.ndarray
    side: np.ndarray
    scan_points: np.ndarray


def find_scans(root: str | os.PathLike) -> list[tuple[str, Path]]:
    """(subject, obj path) for every `subject_XX/Model/frontal1/obj/*.obj`, sorted by subject."""
    root = Path(root)
    if not root.is_dir():
        raise InputFormatError(root, "folder", "MICC Florence root does not exist")
    scans = sorted((p.parts[-5], p) for p in root.glob("subject_*/Model/frontal1/obj/*.obj"))
    if not scans:
        raise InputFormatError(root, "subject_XX/Model/frontal1/obj/*.obj", "no scan found")
    return scans


def _texture(obj_path: Path) -> np.ndarray | None:
    """The first `map_Kd` image of the OBJ's .mtl, as (H, W, 3) uint8, or None."""
    text = obj_path.read_text(errors="replace")
    match = re.search(r"^mtllib\s+(.+)$", text, re.M)
    if not match:
        return None
    mtl = obj_path.parent / match.group(1).strip()
    if not mtl.exists():
        raise InputFormatError(mtl, "file", f"named by {obj_path.name} but missing")
    image = re.search(r"^\s*map_Kd\s+(.+)$", mtl.read_text(errors="replace"), re.M)
    if not image:
        return None
    path = mtl.parent / image.group(1).strip()
    if not path.is_file():
        raise InputFormatError(path, "map_Kd", "the texture it names does not exist")
    return read_photo(path, orientation=False)  # texture coordinates address the stored pixels


def load_scan(obj_path: str | os.PathLike, radius: float = 95.0) -> FaceMesh:
    """The scan cropped to `radius` (scan units, mm) around its nose tip, with per-vertex colours from its
    texture. The nose tip is the most forward (+z) point of the scan after centring, the thesis's frontal pose."""
    obj_path = Path(obj_path)
    vertices, triangles, uv = read_obj(obj_path)
    texture = _texture(obj_path)
    colours = None
    if texture is not None and uv is not None:
        h, w = texture.shape[:2]
        px = np.clip((uv[:, 0] * (w - 1)).round().astype(int), 0, w - 1)
        py = np.clip(((1 - uv[:, 1]) * (h - 1)).round().astype(int), 0, h - 1)
        colours = texture[py, px].astype(np.float32) / 255.0
    centred = vertices - vertices.mean(axis=0)
    nose = centred[np.argmax(centred[:, 2])]
    keep = np.linalg.norm(centred - nose, axis=1) <= radius
    keep_tri = keep[triangles].all(axis=1)
    index = np.full(len(vertices), -1)
    index[keep] = np.arange(int(keep.sum()))
    return FaceMesh(vertices=centred[keep].astype(np.float32), triangles=index[triangles[keep_tri]].astype(np.int32),
                    uv=(uv[keep] if uv is not None else np.zeros((int(keep.sum()), 2), np.float32)),
                    landmarks=np.zeros(68, np.int64), colours=None if colours is None else colours[keep],
                    face_id=obj_path.parts[-5] if len(obj_path.parts) >= 5 else obj_path.stem, model="florence-scan")


def alpha_crop(view: RenderedView, size: int = 256, margin: float = 1.15) -> np.ndarray:
    """(3, 3) similarity: a square around the rendered face's alpha bounding box, `margin` times its larger side."""
    rows, cols = np.nonzero(view.alpha > 0)
    if len(rows) == 0:
        raise ValueError("nothing rendered")
    cx, cy = (cols.min() + cols.max() + 1) / 2.0, (rows.min() + rows.max() + 1) / 2.0
    side = margin * max(cols.max() - cols.min() + 1, rows.max() - rows.min() + 1)
    s = size / side
    return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy], [0, 0, 1.0]])


def render_scan(scan: FaceMesh, rng: np.random.Generator, side_yaw: float = 70.0, size: int = 256,
                background: int = 0) -> FlorenceView:
    """Front (yaw 0) and side (yaw `side_yaw`) orthographic renders, cropped; scan points in the front frame."""
    from frontside.renderers.pyrender_renderer import PyrenderRenderer

    renderer = PyrenderRenderer(projection="orthographic", fill=0.8)
    views = [renderer.render(scan, Pose(yaw), size, rng) for yaw in (0.0, side_yaw)]
    crops = []
    for view in views:
        a = alpha_crop(view, size)
        rgba = warp_image(view.image, a, size)
        crops.append(composite(rgba, np.full(rgba.shape[:2] + (3,), background, np.uint8)))
        if view is views[0]:
            points = warp_vertices(view.vertices, a)
    return FlorenceView(scan.face_id, crops[0], crops[1], points)


def save_view(view: FlorenceView, folder: str | os.PathLike) -> Path:
    path = Path(folder) / f"{view.subject}.npz"
    buffer = io.BytesIO()
    np.savez_compressed(buffer, front=view.front, side=view.side, scan_points=view.scan_points)
    return Path(write_atomic(path, buffer.getvalue()))


def load_views(folder: str | os.PathLike) -> list[FlorenceView]:
    views = []
    for path in sorted(Path(folder).glob("*.npz")):
        with np.load(path) as data:
            views.append(FlorenceView(path.stem, data["front"], data["side"], data["scan_points"]))
    return views


def prepare_views(root: str | os.PathLike, out: str | os.PathLike, max_faces: int | None = None,
                  seed: int = 0) -> Path:
    """Render every scan (or the first `max_faces`) into `out/<subject>.npz`; returns `out`."""
    for i, (_subject, obj) in enumerate(find_scans(root)[:max_faces]):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        side_yaw = float(rng.choice([-1.0, 1.0]) * rng.uniform(60, 80))
        save_view(render_scan(load_scan(obj), rng, side_yaw=side_yaw), out)
    return Path(out)
