import numpy as np
import pytest

from frontside.geometry.posmap import posmap_to_mesh, rasterize_posmap, sample_posmap, uv_to_pixels
from frontside.geometry.raster import interpolate, rasterize


def _brute_force(xy, depth, tris, h, w):
    index = np.full((h, w), -1)
    zbuf = np.full((h, w), -np.inf)
    for t, (a, b, c) in enumerate(tris):
        p0, p1, p2 = xy[a], xy[b], xy[c]
        area = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p2[0] - p0[0]) * (p1[1] - p0[1])
        if area == 0:
            continue
        for r in range(h):
            for col in range(w):
                px, py = col + 0.5, r + 0.5
                w0 = ((p1[0] - px) * (p2[1] - py) - (p2[0] - px) * (p1[1] - py)) / area
                w1 = ((p2[0] - px) * (p0[1] - py) - (p0[0] - px) * (p2[1] - py)) / area
                w2 = 1 - w0 - w1
                if min(w0, w1) < 0 or w2 < -1e-12:
                    continue
                z = w0 * depth[a] + w1 * depth[b] + w2 * depth[c]
                if z > zbuf[r, col]:
                    zbuf[r, col], index[r, col] = z, t
    return index


@pytest.mark.parametrize("seed", range(6))
def test_fast_rasteriser_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-2, 18, (12, 2))
    depth = rng.uniform(0, 5, 12)
    tris = np.array([rng.choice(12, 3, replace=False) for _ in range(8)])
    # the same triangle twice (either winding) ties in depth up to rounding: not a meaningful comparison
    tris = tris[np.unique(np.sort(tris, axis=1), axis=0, return_index=True)[1]]
    index, bary = rasterize(xy, depth, tris, 16, 16)
    np.testing.assert_array_equal(index, _brute_force(xy, depth, tris, 16, 16))
    covered = index >= 0
    np.testing.assert_allclose(bary[covered].sum(axis=1), 1.0, atol=1e-5)


def test_interpolate_reproduces_a_linear_field():
    xy = np.array([[0, 0], [10, 0], [0, 10], [10, 10.0]])
    tris = np.array([[0, 1, 2], [1, 3, 2]])
    index, bary = rasterize(xy, np.zeros(4), tris, 10, 10)
    field = interpolate(xy[:, :1] * 2 + 1, tris, index, bary)[..., 0]
    cols = np.arange(10) + 0.5
    np.testing.assert_allclose(field[5], cols * 2 + 1, atol=1e-4)


def test_posmap_round_trip_recovers_vertices(builtin_model):
    model = builtin_model
    v = model.mean.copy()
    # into a 256 frame like a crop: x right, y down, z >= 0
    v = (v - v.min(axis=0)) / (v.max(axis=0) - v.min(axis=0)).max() * 200 + 20
    v[:, 1] = 256 - v[:, 1]
    v[:, 2] -= v[:, 2].min()
    posmap, mask = rasterize_posmap(model.uv, model.triangles, v)
    assert posmap.shape == (256, 256, 3) and posmap.dtype == np.float32
    assert mask.mean() > 0.95
    back = sample_posmap(posmap, model.uv)
    size = float(np.linalg.norm(v.max(axis=0) - v.min(axis=0)))
    errors = np.linalg.norm(back - v, axis=1)
    assert errors.max() < 0.005 * size, errors.max() / size


def test_posmap_rows_put_the_forehead_on_top(builtin_model):
    uv = builtin_model.uv
    top = uv_to_pixels(uv[[uv[:, 1].argmax()]])[0]
    assert top[1] == pytest.approx(0.5)


def test_posmap_to_mesh_is_a_valid_grid_mesh():
    posmap = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    mask = np.zeros((8, 8), bool)
    mask[2:6, 1:7] = True
    vertices, faces = posmap_to_mesh(posmap, mask)
    assert vertices.shape == (24, 3)
    assert faces.shape == (2 * 3 * 5, 3)
    assert faces.max() < 24 and faces.min() >= 0


def test_fused_posmap_kernel_equals_rasterize_then_interpolate():
    from frontside.geometry.raster import rasterize_values

    rng = np.random.default_rng(9)
    xy = rng.uniform(0, 32, (40, 2))
    depth = rng.uniform(0, 5, 40)
    tris = np.array([rng.choice(40, 3, replace=False) for _ in range(30)])
    values = rng.normal(size=(40, 3)).astype(np.float32)
    index, bary = rasterize(xy, depth, tris, 32, 32)
    fused, covered = rasterize_values(xy, depth, tris, values, 32, 32)
    np.testing.assert_array_equal(covered, index >= 0)
    np.testing.assert_allclose(fused, interpolate(values, tris, index, bary), atol=1e-5)


def test_scratch_buffers_give_the_same_result_and_are_cleared_between_calls():
    from frontside.geometry.raster import rasterize_values

    rng = np.random.default_rng(4)
    scenes = []
    for size in (32, 48, 32):  # a size comes back after another: its buffers must not keep the last scene
        xy = rng.uniform(0, size, (40, 2))
        tris = np.array([rng.choice(40, 3, replace=False) for _ in range(20)])
        scenes.append((xy, rng.uniform(0, 5, 40), tris, rng.normal(size=(40, 3)).astype(np.float32), size))
    for xy, depth, tris, values, size in scenes:
        fresh, fresh_covered = rasterize_values(xy, depth, tris, values, size, size)
        kept, kept_covered = rasterize_values(xy, depth, tris, values, size, size, scratch=True)
        np.testing.assert_array_equal(kept_covered, fresh_covered)
        np.testing.assert_array_equal(kept, fresh)
