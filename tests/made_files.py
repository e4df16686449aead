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
