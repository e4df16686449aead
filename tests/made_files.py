"""Things tests build: a small BFM-like face model (for model files in face3d's layout) and a PNG header that
declares a huge image. Tests import this module by name: pytest puts this folder on sys.path."""

from __future__ import annotations

import struct
import zlib

import numpy as np

N_ID, N_EXP = 5, 3


def grid_model(n: int = 24, seed: int = 7):
    """A bulging n x n grid in BFM units, 68 interior landmarks, random unit bases (N_ID, N_EXP components)."""
    from frontside.facemodel.model import MorphableModel, Region

    u, v = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    u, v = u.ravel(), v.ravel()
    bulge = np.sqrt(np.clip(1 - ((u - 0.5) / 0.6) ** 2 - ((v - 0.5) / 0.65) ** 2, 0, None))
    mean = np.stack([(u - 0.5) * 1.5e5, (v - 0.5) * 1.8e5, bulge * 6e4], axis=1).astype(np.float32)
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            tris += [[a, b, e], [a, e, d]]
    rng = np.random.default_rng(seed)
    interior = np.array([r * n + c for r in range(3, n - 3) for c in range(3, n - 3)])
    landmarks = np.sort(rng.choice(interior, 68, replace=False)).astype(np.int64)
    id_basis = rng.standard_normal((3 * n * n, N_ID)).astype(np.float32)
    id_basis /= np.linalg.norm(id_basis, axis=0)
    exp_basis = rng.standard_normal((3 * n * n, N_EXP)).astype(np.float32)
    exp_basis /= np.linalg.norm(exp_basis, axis=0)
    return MorphableModel(
        mean=mean,
        id_basis=id_basis,
        id_std=np.linspace(4e4, 1e4, N_ID).astype(np.float32),
        exp_basis=exp_basis,
        exp_std=np.linspace(2e4, 5e3, N_EXP).astype(np.float32),
        triangles=np.asarray(tris, np.int32),
        uv=np.stack([u, v], axis=1).astype(np.float32),
        landmarks=landmarks,
        regions=np.full(n * n, Region.FACE, np.uint8),
        exp_mean=(rng.standard_normal((n * n, 3)) * 500).astype(np.float32),
        name="BFM",
    )


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring width x height RGB, one tiny IDAT, IEND: a decompression bomb's
    header, without the bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------------------------------- AFLW2000-3D

def angle2matrix_3ddfa(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """face3d's mesh.transform.angle2matrix_3ddfa, written out (radians): 300W-LP's and AFLW2000-3D's R3."""
    from math import cos, sin

    rx = np.array([[1, 0, 0], [0, cos(pitch), sin(pitch)], [0, -sin(pitch), cos(pitch)]])
    ry = np.array([[cos(yaw), 0, -sin(yaw)], [0, 1, 0], [sin(yaw), 0, cos(yaw)]])
    rz = np.array([[cos(roll), sin(roll), 0], [-sin(roll), cos(roll), 0], [0, 0, 1]])
    return rx @ ry @ rz


def face3d_image_vertices(vertices: np.ndarray, pose_para: np.ndarray, height: int) -> np.ndarray:
    """face3d's transform_3ddfa and y = H - 1 - y (integer pixel centres), as 3DDFA's tools pose a fit."""
    s, angles, t = pose_para[6], pose_para[:3], pose_para[3:6]
    out = s * np.asarray(vertices, np.float64) @ angle2matrix_3ddfa(*angles).T + t
    out[:, 1] = height - out[:, 1] - 1
    return out


def write_aflw2000_sample(root, index: int, photo: np.ndarray, model, pose_para: np.ndarray,
                          shape: np.ndarray | None = None, expression: np.ndarray | None = None) -> dict:
    """imageNNNNN.jpg and imageNNNNN.mat in AFLW2000-3D's layout (scipy.io.savemat, MATLAB's shapes): the fit's
    mesh posed by face3d's recipe gives pt3d_68 (3 x 68) and pt2d; roi is the landmarks' box. Returns the keys."""
    import scipy.io
    from PIL import Image

    shape = np.zeros(model.n_identity) if shape is None else shape
    expression = np.zeros(model.n_expression) if expression is None else expression
    flat = model.id_basis.astype(np.float64) @ shape + model.exp_basis.astype(np.float64) @ expression
    vertices = model.mean.astype(np.float64) + flat.reshape(-1, 3)
    if model.exp_mean is not None:
        vertices = vertices + model.exp_mean
    image_vertices = face3d_image_vertices(vertices, pose_para, photo.shape[0])
    pt3d = image_vertices[model.landmarks].T
    lo, hi = pt3d[:2].min(axis=1), pt3d[:2].max(axis=1)
    keys = {"pt3d_68": pt3d, "pt2d": pt3d[:2].copy(), "Pose_Para": np.asarray(pose_para, np.float64)[None],
            "Shape_Para": np.asarray(shape, np.float64)[:, None], "Exp_Para": np.asarray(expression, np.float64)[:, None],
            "roi": np.concatenate([lo, hi])[None]}
    Image.fromarray(photo).save(f"{root}/image{index:05d}.jpg", quality=95)
    scipy.io.savemat(f"{root}/image{index:05d}.mat", keys)
    return keys


def pose_para_from_similarity(model_points: np.ndarray, image_points: np.ndarray, height: int) -> np.ndarray:
    """Pose_Para (7,) of the similarity (Umeyama, with scale) mapping model points (N, 3) onto image points (N, 3)
    given in our image frame (+0.5 pixel centres, y down, z toward the camera), in face3d's frame."""
    q = np.asarray(image_points, np.float64).copy()
    q[:, 0] -= 0.5
    q[:, 1] = height - 0.5 - q[:, 1]
    p = np.asarray(model_points, np.float64)
    mp, mq = p.mean(0), q.mean(0)
    u, sv, vt = np.linalg.svd((q - mq).T @ (p - mp) / len(p))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    s = float(np.trace(np.diag(sv) @ d) / ((p - mp) ** 2).sum(1).mean())
    t = mq - s * r @ mp
    # R3 = Rx(-pitch) Ry(-yaw) Rz(-roll): R3[0, 2] = -sin(yaw), R3[1:, 2] ~ (sin, cos)(pitch), R3[0, :2] ~ roll
    yaw = np.arcsin(np.clip(-r[0, 2], -1, 1))
    pitch = np.arctan2(r[1, 2], r[2, 2])
    roll = np.arctan2(r[0, 1], r[0, 0])
    assert np.allclose(angle2matrix_3ddfa(pitch, yaw, roll), r, atol=1e-6)
    return np.array([pitch, yaw, roll, *t, s])


def pose_para_from_2d(model_points: np.ndarray, points_2d: np.ndarray, height: int, pitch: float, yaw: float,
                      roll: float) -> np.ndarray:
    """Pose_Para (7,) with the given angles (radians) whose scale and x-y shift best place the model points
    (N, 3) on 2D points (N, 2) in our image frame (least squares; tz = 0): a fit as 3DDFA's annotators made."""
    q = np.asarray(points_2d, np.float64) - [0.5, 0.0]
    q[:, 1] = height - 0.5 - np.asarray(points_2d, np.float64)[:, 1]
    rotated = np.asarray(model_points, np.float64) @ angle2matrix_3ddfa(pitch, yaw, roll).T
    a = np.zeros((2 * len(q), 3))
    a[0::2, 0], a[0::2, 1] = rotated[:, 0], 1.0
    a[1::2, 0], a[1::2, 2] = rotated[:, 1], 1.0
    (s, tx, ty), *_ = np.linalg.lstsq(a, q.reshape(-1), rcond=None)
    return np.array([pitch, yaw, roll, tx, ty, 0.0, s])
