"""A random built-in face, posed orthographically into a 256 x 256 frame, as OBJ + position-map PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from frontside.facemodel.builtin import load_builtin
from frontside.geometry import transforms
from frontside.geometry.mesh_io import write_obj
from frontside.geometry.posmap import posmap_to_rgb, rasterize_posmap
from frontside.pictures import write_png


def posed_face_in_frame(vertices: np.ndarray, yaw: float, size: int = 256, fill: float = 0.8) -> np.ndarray:
    """(N, 3) float32 vertices rotated by `yaw` and scaled orthographically into a size x size image frame.

    x right and y down in pixels, z toward the viewer shifted so its minimum is 0 (the posmap convention).
    """
    rotated = vertices @ transforms.rotation_matrix(yaw, 0.0, 0.0).T
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    scale = fill * size / float(max(hi[0] - lo[0], hi[1] - lo[1]))
    centre = (lo + hi) / 2.0
    out = np.empty_like(rotated)
    out[:, 0] = (rotated[:, 0] - centre[0]) * scale + size / 2.0
    out[:, 1] = -(rotated[:, 1] - centre[1]) * scale + size / 2.0
    out[:, 2] = (rotated[:, 2] - rotated[:, 2].min()) * scale
    return out.astype(np.float32)


def write_smoke(out: Path, seed: int = 0, yaw: float = 20.0) -> dict[str, Path]:
    """Write `face.obj` and `posmap.png` for one random built-in face; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    model = load_builtin()
    face = model.face(np.random.default_rng(seed), face_id=f"builtin-smoke-{seed}")
    posed = posed_face_in_frame(face.vertices, yaw)
    posmap, mask = rasterize_posmap(face.uv, face.triangles, posed, size=256)
    obj_path = out / "face.obj"
    write_obj(obj_path, face.vertices, face.triangles, uv=face.uv, colours=face.colours)
    png_path = out / "posmap.png"
    write_png(png_path, posmap_to_rgb(posmap, mask))
    return {"obj": obj_path, "posmap": png_path}
