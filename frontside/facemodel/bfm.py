"""The Basel Face Model in face3d's `.mat` layout (what PRN and 300W-LP use), and a writer for that layout.

`BFM.mat` holds a struct `model` (or the same keys at top level) with shapeMU (3N, 1), shapePC (3N, K),
shapeEV (K, 1), expMU (3N, 1), expPC (3N, E), expEV (E, 1), texMU/texPC/texEV (0..255), tri (3, T) or (T, 3),
1-based, tri_mouth, kpt_ind (68,) 1-based. UV coordinates come from a second file (`BFM_UV.mat`, key `UV`, N x 2).
Rows of the bases are ordered x0, y0, z0, x1, ...; face3d builds a face as
shapeMU + expMU + shapePC @ alpha + expPC @ beta with alpha, beta in the model's raw units, so the EVs are the
deviations of those coefficients: MorphableModel's basis * (std * c) form matches with std = EV.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from frontside.errors import InputFormatError
from frontside.facemodel.checks import check_model, float32_values
from frontside.facemodel.model import MorphableModel, Region

REQUIRED = ["shapeMU", "shapePC", "shapeEV", "expMU", "expPC", "expEV", "tri", "kpt_ind"]


def _model_struct(mat: dict, path: Path) -> dict:
    if "model" in mat:
        struct = mat["model"]
        while isinstance(struct, np.ndarray) and struct.dtype == object or (
                isinstance(struct, np.ndarray) and struct.shape == (1, 1) and struct.dtype.names):
            struct = struct[0, 0] if struct.ndim == 2 else struct.item()
        if hasattr(struct, "dtype") and struct.dtype.names:
            return {name: struct[name] for name in struct.dtype.names}
        raise InputFormatError(path, "model", "is not a struct")
    return {k: v for k, v in mat.items() if not k.startswith("__")}


def _array(fields: dict, key: str, path: Path) -> np.ndarray:
    if key not in fields:
        raise InputFormatError(path, key, "missing")
    value = np.asarray(fields[key])
    while value.dtype == object and value.size == 1:
        value = np.asarray(value.item())
    if value.dtype == object or not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
        raise InputFormatError(path, key, f"not real numbers (dtype {value.dtype})")
    return value


def _indices(fields: dict, key: str, path: Path) -> np.ndarray:
    """A 1-based index array as 0-based int64, refusing NaN and fractions (a cast would silently floor them)."""
    raw = _array(fields, key, path)
    if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
        raise InputFormatError(path, key, "indices must be whole numbers")
    return raw.astype(np.int64) - 1


def read_mat(path: str | os.PathLike) -> dict:
    """scipy's loadmat, with every way a foreign or truncated file fails it (MatReadError, ValueError,
    IndexError, TypeError, zlib.error, ...) turned into one error naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "file", "does not exist")
    if path.is_dir():
        raise InputFormatError(path, "file", "is a folder, expected a MATLAB .mat file")
    try:
        return scipy.io.loadmat(str(path))
    except MemoryError:
        raise InputFormatError(path, "file", "not a readable MATLAB .mat file (it declares more data than fits "
                                             "in memory)") from None
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise InputFormatError(path, "file", f"not a readable MATLAB .mat file ({type(exc).__name__}"
                                             f"{': ' + detail if detail else ''})") from None


def _column(fields: dict, key: str, path: Path, rows: int, name: str) -> np.ndarray:
    """A vector stored as (rows, 1), (1, rows) or (rows,)."""
    raw = _array(fields, key, path)
    value = raw.reshape(-1) if raw.ndim < 2 or (raw.ndim == 2 and 1 in raw.shape) else raw
    if value.ndim != 1 or len(value) != rows:
        raise InputFormatError(path, key, f"has shape {raw.shape}, expected ({rows}, 1) ({name})")
    return value.astype(np.float64)


def load_bfm(mat_path: str | os.PathLike, uv_path: str | os.PathLike | None = None) -> MorphableModel:
    """A `MorphableModel` from face3d's BFM layout (any N, K, E), checked (`check_model`): errors name the
    file and the key."""
    path = Path(mat_path)
    mat = read_mat(path)
    try:
        fields = _model_struct(mat, path)
    except InputFormatError:
        raise
    except Exception as exc:  # a struct nested in a way face3d never writes
        raise InputFormatError(path, "model", f"not face3d's BFM struct ({type(exc).__name__})") from None
    for key in REQUIRED:
        _array(fields, key, path)
    shape_mu = _array(fields, "shapeMU", path).reshape(-1).astype(np.float64)
    if shape_mu.size % 3:
        raise InputFormatError(path, "shapeMU", f"has {shape_mu.size} rows, not a multiple of 3 (3N)")
    n3 = shape_mu.size
    n = n3 // 3
    shape_pc = _array(fields, "shapePC", path)
    if shape_pc.ndim != 2 or shape_pc.shape[0] != n3:
        raise InputFormatError(path, "shapePC", f"has shape {shape_pc.shape}, expected (3N, K) with 3N = {n3} "
                                                f"(shapeMU has {n3} rows)")
    exp_pc = _array(fields, "expPC", path)
    if exp_pc.ndim != 2 or exp_pc.shape[0] != n3:
        raise InputFormatError(path, "expPC", f"has shape {exp_pc.shape}, expected (3N, E) with 3N = {n3}")
    shape_ev = _column(fields, "shapeEV", path, shape_pc.shape[1], "one per shapePC column")
    exp_ev = _column(fields, "expEV", path, exp_pc.shape[1], "one per expPC column")
    exp_mu = _column(fields, "expMU", path, n3, "3N, like shapeMU")
    tri = _indices(fields, "tri", path)
    if tri.ndim != 2 or 3 not in tri.shape or tri.size == 0:
        raise InputFormatError(path, "tri", f"has shape {tri.shape}, expected (3, T) or (T, 3)")
    tri = tri.T if tri.shape[0] == 3 and tri.shape[1] != 3 else tri
    if tri.min() < 0 or tri.max() >= n:
        raise InputFormatError(path, "tri", f"indices outside 1..{n} (face3d's tri is 1-based)")
    kpt = _indices(fields, "kpt_ind", path).reshape(-1)
    if kpt.size != 68 or kpt.min() < 0 or kpt.max() >= n:
        raise InputFormatError(path, "kpt_ind", f"expected 68 indices in 1..{n}, got {kpt.size}"
                               + (f" spanning {kpt.min() + 1}..{kpt.max() + 1}" if kpt.size else ""))
    if len(np.unique(kpt)) != 68:
        raise InputFormatError(path, "kpt_ind", f"only {len(np.unique(kpt))} of the 68 indices are distinct")
    # the model holds float32: a value NaN, infinite or beyond float32's range is refused naming this file's key
    single = {key: float32_values(value, path, key) for key, value in (
        ("shapeMU", shape_mu), ("shapePC", shape_pc), ("expPC", exp_pc), ("shapeEV", shape_ev), ("expEV", exp_ev),
        ("expMU", exp_mu))}
    uv = _load_uv(path, uv_path, n)
    colour_mean = colour_basis = colour_std = None
    if "texMU" in fields:
        tex_mu = _array(fields, "texMU", path).reshape(-1)
        if tex_mu.size == n3:  # 0..255 in the file
            colour_mean = float32_values(tex_mu, path, "texMU", divisor=255.0).reshape(-1, 3).clip(0, 1)
            if "texPC" in fields and "texEV" in fields:
                colour_basis = float32_values(_array(fields, "texPC", path), path, "texPC", divisor=255.0)
                colour_std = float32_values(_array(fields, "texEV", path).reshape(-1), path, "texEV")
    mean = shape_mu.reshape(-1, 3)
    model = MorphableModel(
        mean=single["shapeMU"].reshape(-1, 3),
        id_basis=single["shapePC"],
        id_std=single["shapeEV"],
        exp_basis=single["expPC"],
        exp_std=single["expEV"],
        triangles=tri.astype(np.int32),
        uv=uv,
        landmarks=kpt,
        regions=bfm_regions(mean + exp_mu.reshape(-1, 3), kpt),
        colour_mean=colour_mean, colour_basis=colour_basis, colour_std=colour_std,
        exp_mean=single["expMU"].reshape(-1, 3),
        name="BFM",
        metadata={"path": str(path)},
    )
    return check_model(model, path)


def _load_uv(path: Path, uv_path, n: int) -> np.ndarray:
    uv_file = Path(uv_path) if uv_path else path.with_name("BFM_UV.mat")
    if not uv_file.exists():
        raise InputFormatError(uv_file, "file", f"UV coordinates for {path.name} not found (pass uv=PATH)")
    fields = {k: v for k, v in read_mat(uv_file).items() if not k.startswith("__")}
    uv = _array(fields, "UV", uv_file).astype(np.float64)
    if uv.shape != (n, 2):
        raise InputFormatError(uv_file, "UV", f"has shape {uv.shape}, expected ({n}, 2) to match {path.name}")
    if not np.all(np.isfinite(uv)) or uv.min() < 0 or uv.max() > 1:
        raise InputFormatError(uv_file, "UV", "values must be finite and within [0, 1]")
    return uv.astype(np.float32)


def bfm_regions(vertices: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Region labels for a BFM-topology face from its 68 landmarks (BFM ships no labels).

    FACE inside the jaw contour's height range and between its ends; FEATURE within reach of the eye, nose and
    mouth landmarks; LANDMARK at the 68 vertices and their nearest neighbours; the rest (neck, ears) NECK.
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, np.float64)
    lm = v[landmarks]
    scale = np.linalg.norm(lm[45] - lm[36])  # outer eye corners: a size that needs no units
    regions = np.full(len(v), Region.NECK, np.uint8)
    chin_y = lm[8, 1]
    face = (v[:, 1] > chin_y - 0.05 * scale) & (np.abs(v[:, 0] - lm[27, 0]) < 0.5 * abs(lm[16, 0] - lm[0, 0]))
    regions[face] = Region.FACE
    tree = cKDTree(v)
    for group in (range(36, 48), range(27, 36), range(48, 68)):
        centre = lm[list(group)].mean(axis=0)
        reach = max(np.linalg.norm(lm[list(group)] - centre, axis=1).max() * 1.3, 0.1 * scale)
        near = tree.query_ball_point(centre, reach)
        regions[[i for i in near if face[i]]] = Region.FEATURE
    k = min(7, len(v))
    ring = tree.query(lm, k=k)[1].reshape(-1)
    regions[ring] = Region.LANDMARK
    return regions


def save_bfm(model: MorphableModel, mat_path: str | os.PathLike, uv_path: str | os.PathLike) -> None:
    """Write `model` in face3d's layout: struct `model` with 1-based (3, T) tri and kpt_ind, plus BFM_UV.mat."""
    n = model.n_vertices
    exp_mu = model.exp_mean if model.exp_mean is not None else np.zeros((n, 3), np.float32)
    colours = model.colour_mean if model.colour_mean is not None else np.full((n, 3), 0.7, np.float32)
    struct = {
        "shapeMU": model.mean.reshape(-1, 1).astype(np.float64),
        "shapePC": model.id_basis.astype(np.float64),
        "shapeEV": model.id_std.reshape(-1, 1).astype(np.float64),
        "expMU": exp_mu.reshape(-1, 1).astype(np.float64),
        "expPC": model.exp_basis.astype(np.float64),
        "expEV": model.exp_std.reshape(-1, 1).astype(np.float64),
        "texMU": (colours.reshape(-1, 1) * 255.0).astype(np.float64),
        "texPC": np.zeros((3 * n, 1)),
        "texEV": np.zeros((1, 1)),
        "tri": (model.triangles.T + 1).astype(np.float64),
        "tri_mouth": np.zeros((3, 0)),
        "kpt_ind": (model.landmarks + 1).reshape(1, -1).astype(np.float64),
    }
    scipy.io.savemat(str(mat_path), {"model": struct})
    scipy.io.savemat(str(uv_path), {"UV": model.uv.astype(np.float64)})
