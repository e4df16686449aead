"""The built-in head model: a hand-built, parametric stand-in for a scanned morphable model.

It ships as code, not data: the mesh, its components, UVs, landmarks and regions are computed from smooth
analytic pieces (a head profile swept around the vertical axis, Gaussian bumps and dents for brows, eye sockets,
nose, cheeks, lips and chin), then cached as .npz. It is *not* a statistical model of real people: its
components are named, hand-shaped deformations (nose length, jaw width, eye spacing, ...) with plausible
millimetre amplitudes, so that data generation, training and evaluation run at realistic cost and variety
without a licensed model. Use BFM (`facemodel.bfm`) for research results.

Surface: a (rows x cols) grid; column = azimuth theta in [-100, 100] degrees about the vertical axis, row =
height y from the neck (-190 mm) to the crown (+125 mm). UV is the normalised grid, so it cannot fold.
Frame: x right, y up, z out of the face, millimetres; eye level at y = 30, nose tip near (0, -10).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from frontside.facemodel.model import MorphableModel, Region
from frontside.io import cache_root, write_atomic

VERSION = "builtin-v1"
# the components in `_identity_fields` / `_expression_fields` order (reports name them: R² per component)
IDENTITY_NAMES = ("nose length", "nose width", "nose tip height", "nose bridge height", "jaw width", "face width",
                  "face height", "eye spacing", "eye socket depth", "brow prominence", "brow height", "lip fullness",
                  "mouth width", "chin prominence", "chin length", "cheek fullness", "forehead slope", "head depth",
                  "cheekbone width", "upper vs lower lip", "asymmetry 1", "asymmetry 2", "asymmetry 3", "asymmetry 4")
EXPRESSION_NAMES = ("mouth open", "smile", "brow raise", "frown", "eyes closing", "pucker")
METADATA = {"units": "mm", "stand_in": True, "identity_names": IDENTITY_NAMES, "expression_names": EXPRESSION_NAMES}
ROWS, COLS = 161, 181
THETA_MAX_DEG = 100.0
Y_BOTTOM, Y_TOP = -190.0, 125.0

# Head profile: front z at the midline, half-width and back z, by height (mm).
_PROFILE_Y = [-190, -110, -95, -85, -75, -60, -40, -20, 0, 20, 40, 70, 100, 118, 125]
_FRONT_Z = [32, 34, 38, 56, 70, 79, 85, 89, 92, 92, 92, 85, 58, 25, 0]
_HALF_W = [48, 46, 44, 40, 44, 58, 66, 71, 75, 76, 76, 72, 56, 28, 1]
_BACK_Z = [-40, -40, -45, -55, -60, -60, -60, -60, -60, -60, -60, -58, -50, -30, -5]

# The 68 iBUG landmarks on the mean face, (x, y) in mm seen from the front. Subject's right = viewer's left (-x).
_JAW = [(-68 * np.cos(np.pi * i / 16), 22 - 104 * np.sin(np.pi * i / 16) ** 1.2) for i in range(17)]
_BROWS = [(-50, 44), (-43, 49), (-35, 51), (-26, 50), (-17, 47), (17, 47), (26, 50), (35, 51), (43, 49), (50, 44)]
_NOSE = [(0, 27), (0, 17), (0, 6), (0, -8), (-13, -19), (-7, -21), (0, -22), (7, -21), (13, -19)]
_EYES = [(-44, 30), (-37, 34), (-27, 34), (-20, 30), (-27, 27), (-37, 27),
         (20, 30), (27, 34), (37, 34), (44, 30), (37, 27), (27, 27)]
_LIPS = [(-22, -44), (-14, -39), (-6, -36), (0, -37), (6, -36), (14, -39), (22, -44),
         (14, -50), (6, -53), (0, -54), (-6, -53), (-14, -50),
         (-18, -44), (-8, -42), (0, -42), (8, -42), (18, -44), (8, -46), (0, -46), (-8, -46)]
LANDMARKS_XY = np.array(_JAW + _BROWS + _NOSE + _EYES + _LIPS, dtype=np.float64)
assert LANDMARKS_XY.shape == (68, 2)


def _gauss(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _pair(x, y, cx, cy, sx, sy):
    """A Gaussian at (cx, cy) and its mirror at (-cx, cy)."""
    return _gauss(x, y, cx, cy, sx, sy) + _gauss(x, y, -cx, cy, sx, sy)


def _smoothstep(edge0, edge1, v):
    t = np.clip((v - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Base surface (N, 3), its azimuth (N,), UV (N, 2) and triangles (T, 3), before features."""
    # scipy.interpolate (~0.3 s to import) only when the model is built: a load from the cache needs none
    from scipy.interpolate import PchipInterpolator

    theta = np.deg2rad(np.linspace(-THETA_MAX_DEG, THETA_MAX_DEG, COLS))
    ys = np.linspace(Y_TOP, Y_BOTTOM, ROWS)  # row 0 at the top
    front = PchipInterpolator(_PROFILE_Y, _FRONT_Z)(ys)
    half_w = PchipInterpolator(_PROFILE_Y, _HALF_W)(ys)
    back = PchipInterpolator(_PROFILE_Y, _BACK_Z)(ys)
    centre, depth = (front + back) / 2, (front - back) / 2
    th, row = np.meshgrid(theta, np.arange(ROWS))
    x = half_w[row] * np.sin(th)
    z = centre[row] + depth[row] * np.cos(th)
    y = ys[row]
    vertices = np.stack([x, y, z], -1).reshape(-1, 3)
    u = (th - theta[0]) / (theta[-1] - theta[0])
    v = 1.0 - row / (ROWS - 1)
    uv = np.stack([u, v], -1).reshape(-1, 2)
    idx = np.arange(ROWS * COLS).reshape(ROWS, COLS)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    # counter-clockwise seen from outside (+z at the front): a (top-left), c (below), b (right)
    triangles = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return vertices, th.reshape(-1), uv, triangles.astype(np.int32)


def _frontness(theta: np.ndarray) -> np.ndarray:
    """1 on the face, fading to 0 toward the sides, so features never reach the ears."""
    return 1.0 - _smoothstep(np.deg2rad(45), np.deg2rad(80), np.abs(theta))


def _features(x, y, theta) -> np.ndarray:
    """z displacement (N,) of the mean face's features."""
    f = _frontness(theta)
    nose_profile = np.interp(y, [-24, -18, -10, 0, 12, 25, 36], [0, 10, 27, 22, 14, 8, 2])
    nose_width = np.interp(y, [-24, -12, 0, 25, 36], [13, 12, 8, 7, 9])
    nose = nose_profile * np.exp(-0.5 * (x / nose_width) ** 2)
    alae = 6 * _pair(x, y, 13, -15, 5, 5)
    sockets = -11 * _pair(x, y, 31, 31, 13, 8)
    eyeballs = 6 * _pair(x, y, 31, 30, 8, 4.5)
    brows = 5 * _pair(x, y, 33, 45, 17, 4.5)
    cheeks = 6 * _pair(x, y, 42, -8, 16, 16)
    lips = 6 * _gauss(x, y, 0, -38, 17, 3.5) + 5 * _gauss(x, y, 0, -50, 15, 4) - 3 * _gauss(x, y, 0, -44, 21, 1.3)
    philtrum = 2 * _gauss(x, y, 0, -29, 5, 4)
    chin = 6 * _gauss(x, y, 0, -72, 15, 8)
    mouth_sides = -3 * _pair(x, y, 27, -44, 6, 8)
    return f * (nose + alae + sockets + eyeballs + brows + cheeks + lips + philtrum + chin + mouth_sides)


def _unit(field: np.ndarray) -> tuple[np.ndarray, float]:
    amp = float(np.abs(field).max())
    return field / amp, amp


def _identity_fields(base: np.ndarray, theta: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Named identity deformations, each (N, 3) in mm at one standard deviation."""
    x, y, z = base.T
    f = _frontness(theta)
    zeros = np.zeros_like(x)

    def dz(v):
        return np.stack([zeros, zeros, v], -1)

    nose_region = _gauss(x, y, 0, 0, 12, 20) * f
    fields = [
        dz(5 * _gauss(x, y, 0, -10, 9, 10) * f),  # nose length (tip protrusion)
        np.stack([2.5 * np.tanh(x / 8) * _gauss(x, y, 0, -16, 16, 8) * f, zeros, zeros], -1),  # nose width
        np.stack([zeros, 4 * nose_region * _smoothstep(30, -10, y), zeros], -1),  # nose tip height
        dz(3 * _gauss(x, y, 0, 18, 6, 10) * f),  # nose bridge height
        np.stack([5 * np.tanh(x / 30) * _smoothstep(-20, -70, y) * (y > -100), zeros, zeros], -1),  # jaw width
        np.stack([0.05 * x, zeros, zeros], -1),  # face width
        np.stack([zeros, 0.05 * (y - 30) * (y > -100) + 0.05 * (-130) * (y <= -100), zeros], -1),  # face height
        np.stack([3 * np.tanh(x / 10) * _pair(x, y, 31, 32, 14, 12) * f, zeros, zeros], -1),  # eye spacing
        dz(-3 * _pair(x, y, 31, 31, 12, 8) * f),  # eye socket depth
        dz(2.5 * _pair(x, y, 33, 46, 18, 5) * f),  # brow prominence
        np.stack([zeros, 3 * _pair(x, y, 33, 46, 18, 6) * f, zeros], -1),  # brow height
        dz(2.5 * (_gauss(x, y, 0, -38, 16, 4) + _gauss(x, y, 0, -50, 14, 4)) * f),  # lip fullness
        np.stack([2.5 * np.tanh(x / 12) * _gauss(x, y, 0, -44, 26, 8) * f, zeros, zeros], -1),  # mouth width
        dz(4 * _gauss(x, y, 0, -72, 16, 9) * f),  # chin prominence
        np.stack([zeros, -5 * _smoothstep(-45, -80, y) * (y > -95) * _gauss(x, y, 0, -70, 40, 60), zeros], -1),  # chin length
        dz(4 * _pair(x, y, 42, -10, 16, 14) * f),  # cheek fullness
        dz(0.12 * np.clip(y - 45, 0, None) * f),  # forehead slope
        np.stack([zeros, zeros, 0.06 * (z - 20)], -1),  # head depth
        np.stack([3 * np.tanh(x / 20) * _pair(x, y, 50, 15, 12, 12), zeros, zeros], -1),  # cheekbone width
        dz(2 * (_gauss(x, y, 0, -38, 16, 4) - _gauss(x, y, 0, -50, 14, 4)) * f),  # upper vs lower lip
    ]
    # a few smooth asymmetric bumps, as scans have
    for _ in range(4):
        cx, cy = rng.uniform(-45, 45), rng.uniform(-70, 60)
        fields.append(dz(2.0 * _gauss(x, y, cx, cy, rng.uniform(12, 25), rng.uniform(12, 25)) * f))
    return fields


def _expression_fields(base: np.ndarray, theta: np.ndarray) -> list[np.ndarray]:
    x, y, z = base.T
    f = _frontness(theta)
    zeros = np.zeros_like(x)
    below_mouth = _smoothstep(-44, -50, y) * _smoothstep(-110, -80, y)
    jaw = _gauss(x, y, 0, -60, 32, 40) * f
    corners = _pair(x, y, 22, -44, 7, 6) * f
    lips = (_gauss(x, y, 0, -38, 17, 4) + _gauss(x, y, 0, -50, 15, 4)) * f
    brows = _pair(x, y, 33, 46, 18, 6) * f
    lids = _pair(x, y, 31, 33, 9, 3) * f
    return [
        np.stack([zeros, -9 * below_mouth * jaw, -2 * below_mouth * jaw], -1),  # mouth open
        np.stack([2.5 * np.sign(x) * corners, 3 * corners, -1 * corners], -1),  # smile
        np.stack([zeros, 4 * brows, zeros], -1),  # brow raise
        np.stack([-2 * np.tanh(x / 10) * brows, -2.5 * brows, 1.0 * brows], -1),  # frown
        np.stack([zeros, -3 * lids, 1.0 * lids], -1),  # eyes closing
        np.stack([-2.5 * np.tanh(x / 10) * lips, zeros, 3 * lips], -1),  # pucker
    ]


def _colours(x, y, z, theta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean albedo (N, 3) in [0, 1], a colour basis (3N, 3) and its deviations (3,)."""
    skin = np.array([0.86, 0.66, 0.55])
    c = np.tile(skin, (len(x), 1))
    lips = np.clip(_gauss(x, y, 0, -38, 15, 3.2) + _gauss(x, y, 0, -50, 13, 3.5), 0, 1)[:, None]
    c = c * (1 - 0.8 * lips) + np.array([0.72, 0.36, 0.36]) * 0.8 * lips
    cheeks = 0.25 * _pair(x, y, 42, -8, 14, 12)[:, None]
    c = c * (1 - cheeks) + np.array([0.88, 0.55, 0.5]) * cheeks
    brow_mask = np.clip(1.3 * _pair(x, y, 33, 47, 14, 2.5), 0, 1)[:, None]
    c = c * (1 - brow_mask) + np.array([0.28, 0.2, 0.16]) * brow_mask
    eye = np.zeros(len(x), bool)
    for cx in (-31.5, 31.5):
        eye |= ((x - cx) / 11) ** 2 + ((y - 30.5) / 3.6) ** 2 < 1
        iris = (x - cx) ** 2 + (y - 30.5) ** 2 < 3.4 ** 2
        c[iris] = [0.3, 0.22, 0.15]
        eye &= ~iris
    c[eye] = [0.93, 0.92, 0.9]
    hair = _smoothstep(72, 88, y + 6 * np.cos(theta * 3))[:, None]
    c = c * (1 - hair) + np.array([0.2, 0.15, 0.11]) * hair
    ones = np.ones_like(x)
    basis = np.stack([
        np.stack([ones, ones, ones], -1),  # brightness
        np.stack([ones, -0.3 * ones, -0.5 * ones], -1),  # redness
        np.stack([-0.2 * ones, -0.5 * ones, -0.8 * ones], -1),  # tan
    ], -1).reshape(-1, 3)
    return np.clip(c, 0, 1), basis, np.array([0.12, 0.04, 0.08])


def _landmark_indices(vertices: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Nearest visible (front-facing) vertex, in x-y, to each landmark position."""
    candidates = np.flatnonzero(np.abs(theta) < np.deg2rad(85))
    from scipy.spatial import cKDTree

    tree = cKDTree(vertices[candidates, :2])
    return candidates[tree.query(LANDMARKS_XY)[1]].astype(np.int64)


def _regions(x, y, theta, landmarks: np.ndarray) -> np.ndarray:
    regions = np.full(len(x), Region.NECK, np.uint8)
    # the face: inside the jaw line, below the hairline, away from the ears
    jaw_y = np.interp(x, LANDMARKS_XY[:17, 0], LANDMARKS_XY[:17, 1])
    face = (np.abs(theta) < np.deg2rad(70)) & (y < 82) & (y > np.minimum(jaw_y, 22) - 2)
    regions[face] = Region.FACE
    eyes = (((np.abs(x) - 31.5) / 15) ** 2 + ((y - 31) / 8) ** 2) < 1
    nose = (np.abs(x) < 17) & (y > -25) & (y < 32)
    mouth = ((x / 27) ** 2 + ((y + 45) / 12) ** 2) < 1
    regions[face & (eyes | nose | mouth)] = Region.FEATURE
    ring = np.concatenate([landmarks + d for d in (-COLS - 1, -COLS, -COLS + 1, -1, 0, 1, COLS - 1, COLS, COLS + 1)])
    regions[ring[(ring >= 0) & (ring < len(x))]] = Region.LANDMARK
    return regions


def build_builtin() -> MorphableModel:
    """Compute the built-in model from scratch (~0.2 s)."""
    rng = np.random.default_rng(20240611)  # fixed: the model is part of the package
    base, theta, uv, triangles = _grid()
    x, y, _ = base.T
    mean = base.copy()
    mean[:, 2] += _features(x, y, theta)
    id_cols, id_std = zip(*(_unit(fld.reshape(-1)) for fld in _identity_fields(base, theta, rng)))
    exp_cols, exp_std = zip(*(_unit(fld.reshape(-1)) for fld in _expression_fields(base, theta)))
    landmarks = _landmark_indices(mean, theta)
    colour_mean, colour_basis, colour_std = _colours(x, y, mean[:, 2], theta)
    return MorphableModel(
        mean=mean.astype(np.float32),
        id_basis=np.stack(id_cols, 1).astype(np.float32),
        id_std=np.asarray(id_std, np.float32),
        exp_basis=np.stack(exp_cols, 1).astype(np.float32),
        exp_std=np.asarray(exp_std, np.float32),
        triangles=triangles,
        uv=uv.astype(np.float32),
        landmarks=landmarks,
        regions=_regions(x, y, theta, landmarks),
        colour_mean=colour_mean.astype(np.float32),
        colour_basis=colour_basis.astype(np.float32),
        colour_std=colour_std.astype(np.float32),
        name=VERSION,
        metadata=METADATA,
    )


_FIELDS = ["mean", "id_basis", "id_std", "exp_basis", "exp_std", "triangles", "uv", "landmarks", "regions",
           "colour_mean", "colour_basis", "colour_std"]


def _source_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def cache_path(cache_dir: str | os.PathLike | None = None) -> Path:
    root = Path(cache_dir) if cache_dir else cache_root()
    return root / f"{VERSION}-{_source_hash()}.npz"


def load_builtin(cache_dir: str | os.PathLike | None = None) -> MorphableModel:
    """The built-in model, from the cache when it is there and sound, else built and cached (atomically).

    The cache key includes a hash of this file, so editing the model's code never serves a stale cache.
    """
    path = cache_path(cache_dir)
    if path.exists():
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in _FIELDS}
            return MorphableModel(**arrays, name=VERSION, metadata=METADATA)
        except Exception:  # a corrupt or partial cache is rebuilt, never trusted
            pass
    model = build_builtin()
    try:
        buffer = io.BytesIO()
        np.savez(buffer, **{k: getattr(model, k) for k in _FIELDS})
        write_atomic(path, buffer.getvalue())
    except OSError:
        pass  # a read-only home still gets a model, just not a cached one
    return model
