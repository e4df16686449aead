"""FaceGen's binary TRI mesh format ("FRTRI003"): read and write.

Layout, as FaceGenBaseLibrary's `Fg3dMeshTri.cpp` (`loadTri` / `saveTri`) reads and writes it; every number is
little-endian (the library writes raw x86 memory):

    offset  size        field
    0       8           magic "FRTRI003" ("FRTRI103" is an encrypted TRI; FaceGen's `fileconvert` decrypts it)
    8       10 x u32    V verts, T tris, Q quads, LV labelled verts, LS surface points, X uvs,
                        ext flags (bit 0: texture coordinates, bit 1: labels are wide chars),
                        Md delta morphs, Ms target morphs, K target-morph verts
    48      16          reserved (zeros)
    64      V x 3 f32   vertices; then K x 3 f32, the target morphs' vertices, in morph order
            T x 3 u32   triangle vertex indices; then Q x 4 u32 quad vertex indices
            LV x        u32 vertex index + label
            LS x        u32 tri-equivalent index (tris first, then each quad as two tris [0,1,2], [2,3,0])
                        + 3 f32 barycentric weights + label
            if X > 0:   X x 2 f32 uvs, T x 3 u32 uv indices, Q x 4 u32 uv indices
            elif ext&1: V x 2 f32 per-vertex uvs (read back as indexed uvs with the vertex indices)
            Md x        label + f32 scale + V x 3 i16 (delta = i16 * scale)
            Ms x        label + u32 n + n x u32 base vertex indices (their vertices are the next n of the K)

    label = u32 n (characters including the terminating NUL) + n bytes (or n 2-byte wide chars when ext bit 1
    is set; FaceGen is a Windows program, where wchar_t is 2 bytes); n = 0 is an empty label with no bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frontside.errors import InputFormatError
from frontside.io import write_atomic

MAGIC = b"FRTRI003"
ENCRYPTED_MAGIC = b"FRTRI103"
HEADER_FIELDS = ("numVerts", "numTris", "numQuads", "numLabelledVerts", "numSurfPoints", "numUvs", "extFlags",
                 "numDeltaMorphs", "numTargetMorphs", "numTargetMorphVerts")
HEADER_SIZE = 8 + 4 * len(HEADER_FIELDS) + 16
EXT_TEXTURE = 0x01
EXT_WIDE_LABELS = 0x02
_DELTA_MAX = 32766  # int16 range the library scales each delta morph into (short max - 1)


@dataclass(frozen=True)
class LabelledVertex:
    index: int
    label: str


@dataclass(frozen=True)
class SurfacePoint:
    """A point on a triangle: `tri_equiv` indexes the triangles, then each quad as two triangles."""

    tri_equiv: int
    weights: tuple[float, float, float]  # barycentric, summing to 1
    label: str


@dataclass
class DeltaMorph:
    name: str
    deltas: np.ndarray  # (V, 3) float32 offsets of every vertex


@dataclass
class TargetMorph:
    name: str
    indices: np.ndarray  # (n,) int64 base vertex indices
    vertices: np.ndarray  # (n, 3) float32 their positions in the morph target


@dataclass
class TriMesh:
    """One TRI file. uv/uv_triangles/uv_quads are all None when the mesh has no texture coordinates."""

    vertices: np.ndarray  # (V, 3) float32
    triangles: np.ndarray  # (T, 3) int64
    quads: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))  # (Q, 4) int64
    uv: np.ndarray | None = None  # (X, 2) float32, v up
    uv_triangles: np.ndarray | None = None  # (T, 3) int64 indices into uv
    uv_quads: np.ndarray | None = None  # (Q, 4) int64 indices into uv
    labelled_vertices: list[LabelledVertex] = field(default_factory=list)
    surface_points: list[SurfacePoint] = field(default_factory=list)
    delta_morphs: list[DeltaMorph] = field(default_factory=list)
    target_morphs: list[TargetMorph] = field(default_factory=list)

    @classmethod
    def from_arrays(cls, vertices: np.ndarray, triangles: np.ndarray, uv: np.ndarray | None = None) -> TriMesh:
        """A triangle mesh from vertices (V, 3), triangles (T, 3) and optional per-vertex uv (V, 2)."""
        triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
        return cls(vertices=np.asarray(vertices, np.float32).reshape(-1, 3), triangles=triangles,
                   uv=None if uv is None else np.asarray(uv, np.float32).reshape(-1, 2),
                   uv_triangles=None if uv is None else triangles.copy(),
                   uv_quads=None if uv is None else np.zeros((0, 4), np.int64))


def triangulate(triangles: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """(T + 2Q, 3): the triangles, then each quad [a, b, c, d] as [a, b, c], [c, d, a] (FaceGen's tri-equivalents)."""
    quads = np.asarray(quads, np.int64).reshape(-1, 4)
    split = np.stack([quads[:, [0, 1, 2]], quads[:, [2, 3, 0]]], axis=1).reshape(-1, 3)
    return np.concatenate([np.asarray(triangles, np.int64).reshape(-1, 3), split])


def per_vertex_uv(mesh: TriMesh) -> np.ndarray | None:
    """(V, 2) float32 uv of each vertex, the first corner that names it winning (as `mesh_io.read_obj` does);
    zeros for vertices no facet uses. None when the mesh has no texture coordinates."""
    if mesh.uv is None:
        return None
    corners = triangulate(mesh.triangles, mesh.quads).ravel()
    uv_quads = mesh.uv_quads if mesh.uv_quads is not None else np.zeros((0, 4), np.int64)
    uv_corners = triangulate(mesh.uv_triangles, uv_quads).ravel()
    out = np.zeros((len(mesh.vertices), 2), np.float32)
    first_vertices, first = np.unique(corners, return_index=True)
    out[first_vertices] = mesh.uv[uv_corners[first]]
    return out


# ---- reading ---------------------------------------------------------------------------------------------------

class _Cursor:
    """Bytes of one file read front to back; every read names the field, so truncation errors say what is missing."""

    def __init__(self, data: bytes, path: str | os.PathLike):
        self.data, self.path, self.offset = data, path, 0

    def take(self, nbytes: int, field_name: str) -> bytes:
        if nbytes > len(self.data) - self.offset:
            raise InputFormatError(self.path, field_name, f"file truncated: needs {nbytes} bytes at offset "
                                   f"{self.offset}, only {len(self.data) - self.offset} remain")
        out = self.data[self.offset:self.offset + nbytes]
        self.offset += nbytes
        return out

    def array(self, dtype: str, shape: tuple[int, ...], field_name: str) -> np.ndarray:
        count = int(np.prod(shape))
        raw = self.take(count * np.dtype(dtype).itemsize, field_name)
        return np.frombuffer(raw, dtype).reshape(shape).copy()

    def u32(self, field_name: str) -> int:
        return struct.unpack("<I", self.take(4, field_name))[0]

    def label(self, wide: bool, field_name: str) -> str:
        n = self.u32(f"{field_name} length")
        if n == 0:
            return ""
        if wide:
            text = self.take(2 * n, field_name).decode("utf-16-le", errors="replace")
        else:
            text = self.take(n, field_name).decode("latin-1")
        return text[:-1] if text.endswith("\0") else text  # the spec stores a terminating NUL


def _check_indices(path, field_name: str, indices: np.ndarray, bound: int, what: str) -> np.ndarray:
    if indices.size and int(indices.max()) >= bound:
        raise InputFormatError(path, field_name, f"index {int(indices.max())} out of range: only {bound} {what}")
    return indices.astype(np.int64)


def _read_header(cur: _Cursor) -> dict[str, int]:
    magic = cur.take(8, "magic")
    if magic == ENCRYPTED_MAGIC:
        raise InputFormatError(cur.path, "magic", "encrypted TRI (FRTRI103): decrypt it with FaceGen's fileconvert")
    if magic != MAGIC:
        raise InputFormatError(cur.path, "magic", f"expected {MAGIC!r}, found {magic!r}: not a FaceGen TRI file")
    header = {name: cur.u32(f"header {name}") for name in HEADER_FIELDS}
    cur.take(16, "header reserved")
    if header["numVerts"] == 0:
        raise InputFormatError(cur.path, "header numVerts", "0: a TRI file needs vertices")
    return header


def _read_surface_points(cur: _Cursor, count: int, wide: bool) -> list[SurfacePoint]:
    points = []
    for i in range(count):
        tri_equiv = cur.u32(f"surface point {i} triangle")
        weights = tuple(float(w) for w in cur.array("<f4", (3,), f"surface point {i} weights"))
        points.append(SurfacePoint(tri_equiv, weights, cur.label(wide, f"surface point {i} label")))  # type: ignore[arg-type]
    return points


def _read_uvs(cur: _Cursor, h: dict[str, int], triangles: np.ndarray, quads: np.ndarray):
    """(uv, uv_triangles, uv_quads): indexed when numUvs > 0, per-vertex when only the texture flag is set."""
    if h["numUvs"] > 0:
        uv = cur.array("<f4", (h["numUvs"], 2), "uvs")
        uv_tris = _check_indices(cur.path, "uv triangles", cur.array("<u4", (h["numTris"], 3), "uv triangles"),
                                 h["numUvs"], "uvs")
        uv_quads = _check_indices(cur.path, "uv quads", cur.array("<u4", (h["numQuads"], 4), "uv quads"),
                                  h["numUvs"], "uvs")
        return uv, uv_tris, uv_quads
    if h["extFlags"] & EXT_TEXTURE:
        return cur.array("<f4", (h["numVerts"], 2), "per-vertex uvs"), triangles.copy(), quads.copy()
    return None, None, None


def _read_delta_morphs(cur: _Cursor, count: int, n_verts: int, wide: bool) -> list[DeltaMorph]:
    morphs = []
    for i in range(count):
        name = cur.label(wide, f"delta morph {i} name")
        (scale,) = struct.unpack("<f", cur.take(4, f"delta morph {name!r} scale"))
        deltas = cur.array("<i2", (n_verts, 3), f"delta morph {name!r} deltas").astype(np.float32) * np.float32(scale)
        morphs.append(DeltaMorph(name, deltas))
    return morphs


def _read_target_morphs(cur: _Cursor, count: int, target_verts: np.ndarray, n_verts: int,
                        wide: bool) -> list[TargetMorph]:
    morphs, start = [], 0
    for i in range(count):
        name = cur.label(wide, f"target morph {i} name")
        n = cur.u32(f"target morph {name!r} count")
        indices = _check_indices(cur.path, f"target morph {name!r} indices",
                                 cur.array("<u4", (n,), f"target morph {name!r} indices"), n_verts, "vertices")
        if start + n > len(target_verts):
            raise InputFormatError(cur.path, f"target morph {name!r} count", f"{n} vertices from offset {start}, but "
                                   f"the header's numTargetMorphVerts is {len(target_verts)}")
        morphs.append(TargetMorph(name, indices, target_verts[start:start + n]))
        start += n
    return morphs


def read_tri(path: str | os.PathLike) -> TriMesh:
    """Read a FaceGen TRI file. Raises InputFormatError naming the file and the field when it is missing,
    truncated, encrypted, not a TRI or has out-of-range indices."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "file", "does not exist")
    cur = _Cursor(path.read_bytes(), path)
    h = _read_header(cur)
    wide = bool(h["extFlags"] & EXT_WIDE_LABELS)
    vertices = cur.array("<f4", (h["numVerts"], 3), "vertices")
    target_verts = cur.array("<f4", (h["numTargetMorphVerts"], 3), "target morph vertices")
    triangles = _check_indices(path, "triangles", cur.array("<u4", (h["numTris"], 3), "triangles"),
                               h["numVerts"], "vertices")
    quads = _check_indices(path, "quads", cur.array("<u4", (h["numQuads"], 4), "quads"), h["numVerts"], "vertices")
    labelled = [LabelledVertex(cur.u32(f"labelled vertex {i} index"), cur.label(wide, f"labelled vertex {i} label"))
                for i in range(h["numLabelledVerts"])]
    surface_points = _read_surface_points(cur, h["numSurfPoints"], wide)
    uv, uv_tris, uv_quads = _read_uvs(cur, h, triangles, quads)
    delta = _read_delta_morphs(cur, h["numDeltaMorphs"], h["numVerts"], wide)
    target = _read_target_morphs(cur, h["numTargetMorphs"], target_verts, h["numVerts"], wide)
    return TriMesh(vertices=vertices, triangles=triangles, quads=quads, uv=uv, uv_triangles=uv_tris,
                   uv_quads=uv_quads, labelled_vertices=labelled, surface_points=surface_points,
                   delta_morphs=delta, target_morphs=target)


# ---- writing ---------------------------------------------------------------------------------------------------

def _label_bytes(text: str) -> bytes:
    raw = text.encode("latin-1", errors="replace") + b"\0"  # narrow labels only; the library writes them so too
    return struct.pack("<I", len(raw)) + raw


def _delta_bytes(morph: DeltaMorph) -> bytes:
    """Label + f32 scale + (V, 3) i16: each morph scaled into the int16 range, as the library does (rounded to
    nearest here; the format stores only ints and the scale, so readers are unaffected)."""
    deltas = np.asarray(morph.deltas, np.float64)
    peak = float(np.abs(deltas).max()) if deltas.size else 0.0
    scale = peak / _DELTA_MAX if peak > 0 else 1.0
    ints = np.rint(deltas / scale).astype("<i2")
    return _label_bytes(morph.name) + struct.pack("<f", scale) + ints.tobytes()


def tri_bytes(mesh: TriMesh) -> bytes:
    """The bytes of `mesh` as a TRI file (indexed uvs when it has any; never wide labels)."""
    has_uv = mesh.uv is not None
    n_target = sum(len(m.indices) for m in mesh.target_morphs)
    counts = (len(mesh.vertices), len(mesh.triangles), len(mesh.quads), len(mesh.labelled_vertices),
              len(mesh.surface_points), len(mesh.uv) if has_uv else 0, EXT_TEXTURE if has_uv else 0,
              len(mesh.delta_morphs), len(mesh.target_morphs), n_target)
    parts = [MAGIC, struct.pack("<10I", *counts), bytes(16), np.asarray(mesh.vertices, "<f4").tobytes()]
    parts += [np.asarray(m.vertices, "<f4").tobytes() for m in mesh.target_morphs]
    parts += [np.asarray(mesh.triangles, "<u4").tobytes(), np.asarray(mesh.quads, "<u4").tobytes()]
    parts += [struct.pack("<I", v.index) + _label_bytes(v.label) for v in mesh.labelled_vertices]
    parts += [struct.pack("<I3f", p.tri_equiv, *p.weights) + _label_bytes(p.label) for p in mesh.surface_points]
    if has_uv:
        parts += [np.asarray(mesh.uv, "<f4").tobytes(), np.asarray(mesh.uv_triangles, "<u4").tobytes(),
                  np.asarray(mesh.uv_quads if mesh.uv_quads is not None else np.zeros((0, 4)), "<u4").tobytes()]
    parts += [_delta_bytes(m) for m in mesh.delta_morphs]
    parts += [_label_bytes(m.name) + struct.pack("<I", len(m.indices)) + np.asarray(m.indices, "<u4").tobytes()
              for m in mesh.target_morphs]
    return b"".join(parts)


def _validate(mesh: TriMesh) -> None:
    """Shapes the format cannot represent otherwise: fail before writing a file fg3 would misread."""
    n = len(mesh.vertices)
    if n == 0:
        raise ValueError("write_tri: a TRI file needs at least one vertex")
    if mesh.uv is not None and (mesh.uv_triangles is None or len(mesh.uv_triangles) != len(mesh.triangles)):
        raise ValueError("write_tri: uv needs uv_triangles with one row per triangle")
    if mesh.uv is not None and len(mesh.quads) and (mesh.uv_quads is None or len(mesh.uv_quads) != len(mesh.quads)):
        raise ValueError("write_tri: uv needs uv_quads with one row per quad")
    for morph in mesh.delta_morphs:
        if np.shape(morph.deltas) != (n, 3):
            raise ValueError(f"write_tri: delta morph {morph.name!r} has shape {np.shape(morph.deltas)}, needs ({n}, 3)")
    for morph in mesh.target_morphs:
        if len(morph.indices) != len(morph.vertices):
            raise ValueError(f"write_tri: target morph {morph.name!r} has {len(morph.indices)} indices but "
                             f"{len(morph.vertices)} vertices")


def write_tri(path: str | os.PathLike, mesh: TriMesh) -> Path:
    """Write `mesh` as a TRI file, atomically (temporary file in the same folder, then rename)."""
    _validate(mesh)
    return Path(write_atomic(Path(path), tri_bytes(mesh)))
