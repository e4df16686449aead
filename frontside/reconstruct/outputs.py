"""What a reconstruction writes: the mesh (OBJ, PLY or GLB) and face.json.

The mesh is the predicted surface over the face mask's UV pixels, in the front crop's pixel frame turned y-up
(x right, y up, z toward the camera, in crop pixels; `MESH_FRAME`). OBJ and GLB carry PRN's texture (the front
crop sampled at each UV pixel's predicted position: a UV-layout picture); PLY, whose readers mostly ignore
textures, carries the same colours per vertex.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from frontside.geometry.mesh_io import write_obj
from frontside.io import write_atomic

MESH_FORMATS = (".obj", ".ply", ".glb")
MESH_FRAME = "front crop pixels, y up: x right, y = crop size - image y, z toward the camera"


def uv_texture(posmap: np.ndarray, front_crop: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8: the front crop sampled at each UV pixel's predicted image position (PRN's texture)."""
    import cv2

    return cv2.remap(np.ascontiguousarray(front_crop), posmap[..., 0] - 0.5, posmap[..., 1] - 0.5,
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def to_mesh_frame(points: np.ndarray, crop_size: int) -> np.ndarray:
    """(N, 3) float64 image-frame points of the front crop (y down) in the mesh's frame (y up)."""
    return np.asarray(points, np.float64) * [1.0, -1.0, 1.0] + [0.0, float(crop_size), 0.0]


def write_mesh(path: str | os.PathLike, posmap: np.ndarray, mask: np.ndarray, texture: np.ndarray) -> Path:
    """Write the face as .obj (+ .mtl + .png), .ply (vertex colours) or .glb (embedded texture), atomically.

    posmap (S, S, 3) float32 in front-crop pixels; mask (S, S) bool; texture (S, S, 3) uint8 in the UV layout.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise ValueError(f"{path}: mesh format must be one of {', '.join(MESH_FORMATS)}")
    # numba: loaded when a mesh is written, not when the CLI reads MESH_FORMATS
    from frontside.geometry.posmap import posmap_to_mesh

    vertices, triangles = posmap_to_mesh(posmap, mask)
    vertices = to_mesh_frame(vertices, mask.shape[0])
    rows, cols = np.nonzero(mask)
    uv = np.column_stack([(cols + 0.5) / mask.shape[1], 1.0 - (rows + 0.5) / mask.shape[0]])
    if suffix == ".obj":
        return write_obj(path, vertices, triangles, uv=uv, texture=texture)
    import trimesh
    from PIL import Image

    if suffix == ".ply":
        colours = np.column_stack([texture[rows, cols], np.full(len(rows), 255, np.uint8)])
        mesh = trimesh.Trimesh(vertices, triangles, vertex_colors=colours, process=False)
    else:
        visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(np.ascontiguousarray(texture)))
        mesh = trimesh.Trimesh(vertices, triangles, visual=visual, process=False)
    return Path(write_atomic(Path(path), mesh.export(file_type=suffix[1:])))


def write_face_json(path: str | os.PathLike, record: dict) -> Path:
    """face.json, atomically: numbers rounded to 0.001 (pixel, degree, second), a point or a matrix row per line."""
    text = json.dumps(_rounded(record), indent=1)
    text = re.sub(r"\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    return Path(write_atomic(Path(path), text + "\n"))


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, np.ndarray):
        return _rounded(value.tolist())
    if isinstance(value, float | np.floating):
        return round(float(value), 3)
    if isinstance(value, np.integer):
        return int(value)
    return value
