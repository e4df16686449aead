"""OBJ reading and writing (plain text: fast enough for 100k-vertex meshes, no scene-graph surprises)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from frontside.errors import InputFormatError
from frontside.io import write_atomic


def write_obj(path: str | os.PathLike, vertices: np.ndarray, triangles: np.ndarray, uv: np.ndarray | None = None,
              colours: np.ndarray | None = None, texture: np.ndarray | None = None) -> Path:
    """Write a triangle mesh as OBJ, atomically.

    vertices (N, 3); triangles (T, 3) 0-based; uv (N, 2) per-vertex texture coordinates (v up); colours (N, 3)
    in [0, 1] as the common `v x y z r g b` extension; texture (H, W, 3) uint8 written as `<stem>.png` with a
    `<stem>.mtl` beside the OBJ (needs uv).
    """
    from frontside.pictures import write_png  # floor-0 helper without heavy imports

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(triangles, dtype=np.int64) + 1
    lines: list[str] = []
    if texture is not None:
        if uv is None:
            raise ValueError("write_obj: a texture needs uv coordinates")
        write_png(path.with_suffix(".png"), np.asarray(texture, dtype=np.uint8))
        write_atomic(path.with_suffix(".mtl"),
                           f"newmtl face\nKa 1 1 1\nKd 1 1 1\nmap_Kd {path.with_suffix('.png').name}\n")
        lines += [f"mtllib {path.with_suffix('.mtl').name}", "usemtl face"]
    if colours is not None:
        data = np.column_stack([v, np.clip(np.asarray(colours, dtype=np.float64), 0, 1)])
        lines += ["v %.6f %.6f %.6f %.4f %.4f %.4f" % tuple(row) for row in data]
    else:
        lines += ["v %.6f %.6f %.6f" % tuple(row) for row in v]
    if uv is not None:
        lines += ["vt %.6f %.6f" % tuple(row) for row in np.asarray(uv, dtype=np.float64)]
        lines += ["f %d/%d %d/%d %d/%d" % (a, a, b, b, c, c) for a, b, c in f]
    else:
        lines += ["f %d %d %d" % tuple(row) for row in f]
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def read_obj(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read an OBJ: vertices (N, 3) float32, triangles (T, 3) int32 0-based (polygons fanned), per-vertex uv (N, 2)
    float32 when every face corner names a texture coordinate (the first seen per vertex wins), else None."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "file", "does not exist")
    verts: list[list[float]] = []
    tex: list[list[float]] = []
    faces: list[list[int]] = []
    face_tex: list[list[int]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                if parts[0] == "v":
                    verts.append([float(x) for x in parts[1:4]])
                elif parts[0] == "vt":
                    tex.append([float(x) for x in parts[1:3]])
                elif parts[0] == "f":
                    idx, tix = [], []
                    for corner in parts[1:]:
                        fields = corner.split("/")
                        idx.append(int(fields[0]))
                        tix.append(int(fields[1]) if len(fields) > 1 and fields[1] else 0)
                    for k in range(1, len(idx) - 1):
                        faces.append([idx[0], idx[k], idx[k + 1]])
                        face_tex.append([tix[0], tix[k], tix[k + 1]])
            except ValueError as exc:
                raise InputFormatError(path, f"line {lineno} ({parts[0]})", f"not a number: {exc}") from None
    if not verts or not faces:
        raise InputFormatError(path, "v/f", "no vertices or no faces")
    v = np.asarray(verts, np.float32)
    f = np.asarray(faces, np.int64)
    f = np.where(f < 0, f + len(v) + 1, f) - 1  # OBJ allows negative (relative) indices
    if f.min() < 0 or f.max() >= len(v):
        raise InputFormatError(path, "f", f"vertex index out of range 1..{len(v)}")
    uv = None
    ft = np.asarray(face_tex, np.int64)
    if tex and (ft > 0).all():
        t = np.asarray(tex, np.float32)
        uv = np.zeros((len(v), 2), np.float32)
        seen = np.zeros(len(v), bool)
        flat_v, flat_t = f.ravel(), ft.ravel() - 1
        first = np.unique(flat_v, return_index=True)[1]
        uv[flat_v[first]] = t[flat_t[first]]
        seen[flat_v[first]] = True
    return v, f.astype(np.int32), uv
