"""ms per UV position map (median of 20) on one core: a BFM-sized mesh and the built-in model."""

import numba
import numpy as np
from _common import emit, median_ms
from scipy.spatial import Delaunay

from frontside.facemodel.builtin import load_builtin
from frontside.geometry.posmap import rasterize_posmap


def bfm_sized_mesh(seed: int = 0):
    """53,215 vertices on a jittered grid and ~105,840 Delaunay triangles, like BFM's UV layout."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(53_215)))
    grid = np.stack(np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side)), -1).reshape(-1, 2)[:53_215]
    uv = np.clip(grid + rng.normal(0, 0.0005, grid.shape), 0, 1)
    triangles = Delaunay(uv).simplices.astype(np.int32)
    xyz = np.column_stack([uv * 200 + 28, rng.uniform(0, 60, len(uv))]).astype(np.float32)
    return uv, triangles, xyz


def main() -> None:
    numba.set_num_threads(1)
    uv, triangles, xyz = bfm_sized_mesh()
    model = load_builtin()
    posed = model.mean * [1, -1, 1] + [128, 128, 0]
    emit({
        "threads": 1,
        "bfm_sized": {"vertices": len(uv), "triangles": len(triangles),
                      "ms_per_map": round(median_ms(lambda: rasterize_posmap(uv, triangles, xyz)), 3)},
        "builtin": {"vertices": model.n_vertices, "triangles": len(model.triangles),
                    "ms_per_map": round(median_ms(lambda: rasterize_posmap(model.uv, model.triangles, posed)), 3)},
        "goal_ms_bfm_sized": 5.0,
        "face3d_cpp_reference_ms": 5.4,
    })


if __name__ == "__main__":
    main()
