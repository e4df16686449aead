import numpy as np
import pytest
from scipy.spatial import cKDTree

from frontside.geometry import icp as icp_module
from frontside.geometry.icp import apply_transform, best_fit_transform, icp, landmark_alignment
from frontside.geometry.transforms import rotation_matrix


def _cloud(n=3000, seed=0):
    """An asymmetric, curved cloud: no symmetry for ICP to slip along."""
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(-1, 1, (2, n))
    return np.column_stack([u * 60, v * 80, 30 * np.exp(-(u - 0.3) ** 2 * 3 - (v + 0.2) ** 2 * 2) + 8 * u * v])


def _similarity(yaw, pitch, roll, translation, scale=1.0):
    m = np.eye(4)
    m[:3, :3] = scale * rotation_matrix(yaw, pitch, roll)
    m[:3, 3] = translation
    return m


def _two_samplings(n_source, n_target, truth):
    """Different samples of one surface: the source, and the target moved by `truth`. ICP's minimum is then
    near `truth` but not at it, and the error cannot reach 0."""
    return _cloud(n_source, 11), apply_transform(_cloud(n_target, 12), truth)


def _mean_distance(points, target, transform):
    return float(cKDTree(target).query(apply_transform(points, transform))[0].mean())


def _rotation_angle(a, b):
    """Degrees between the rotations of two similarities."""
    r = a[:3, :3].T @ b[:3, :3] / np.cbrt(np.linalg.det(a[:3, :3]) * np.linalg.det(b[:3, :3]))
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


def test_best_fit_recovers_a_similarity_exactly():
    src = _cloud()
    m = np.eye(4)
    m[:3, :3] = 1.7 * rotation_matrix(20, -10, 5)
    m[:3, 3] = [3, -4, 5]
    np.testing.assert_allclose(best_fit_transform(src, apply_transform(src, m), scale=True), m, atol=1e-9)


def test_best_fit_with_weights_ignores_zero_weighted_pairs():
    src = _cloud(500, 4)
    m = _similarity(10, 5, -5, [1, 2, 3])
    dst = apply_transform(src, m)
    dst[:50] += 100.0  # bad pairs, weighted out
    weights = np.ones(len(src))
    weights[:50] = 0
    np.testing.assert_allclose(best_fit_transform(src, dst, weights=weights), m, atol=1e-9)


def test_best_fit_keeps_scale_1_for_a_source_without_spread():
    """An untrained network can predict one point for every vertex: no scale to find, and no NaN either."""
    src = np.tile([[1.0, 2.0, 3.0]], (68, 1))
    m = best_fit_transform(src, _cloud(68, 9), scale=True)
    assert np.isfinite(m).all()
    np.testing.assert_allclose(np.linalg.det(m[:3, :3]), 1.0)
    np.testing.assert_allclose(apply_transform(src[:1], m)[0], _cloud(68, 9).mean(axis=0))


def test_icp_recovers_a_known_rigid_motion_to_1e6():
    src = _cloud()
    rotation, translation = rotation_matrix(4, 3, -2), np.array([2.0, -1.0, 3.0])
    target = src @ rotation.T + translation
    result = icp(src, target, max_iterations=200, tolerance=0)
    np.testing.assert_allclose(result.transform[:3, :3], rotation, atol=1e-6)
    np.testing.assert_allclose(result.transform[:3, 3], translation, atol=1e-6)
    assert result.error < 1e-6


def test_icp_converges_from_30_degrees_off():
    src = _cloud(4000, 1)
    rotation = rotation_matrix(30, 0, 0)
    target = (src - src.mean(0)) @ rotation.T + src.mean(0)
    result = icp(src, target, max_iterations=300, tolerance=1e-12)
    assert result.error < 1e-3
    np.testing.assert_allclose(result.transform[:3, :3], rotation, atol=1e-4)


@pytest.mark.parametrize("accelerate", [True, False])
def test_coarse_to_fine_recovers_a_known_motion_to_1e6(accelerate):
    src = _cloud(20_000, 5)  # levels of 1000, 4000 and 20000 points
    truth = _similarity(5, -4, 3, [2.0, -1.5, 1.0])
    result = icp(src, apply_transform(src, truth), max_iterations=100, tolerance=0, coarse_points=1000,
                 accelerate=accelerate)
    np.testing.assert_allclose(result.transform, truth, atol=1e-6)
    assert result.error < 1e-6
    assert result.iterations <= 100


@pytest.mark.slow
def test_coarse_to_fine_matches_a_full_resolution_run():
    """Run to convergence, the staged alignment ends where the full-resolution one does."""
    truth = _similarity(4, -3, 2, [2.0, -1.5, 1.0])
    src, target = _two_samplings(20_000, 40_000, truth)
    tree = cKDTree(target)
    full = icp(src, tree, max_iterations=300, tolerance=1e-9, coarse_points=None)
    staged = icp(src, tree, max_iterations=300, tolerance=1e-9, coarse_points=1000, fine_iterations=150)
    assert full.converged and staged.converged
    assert staged.error == pytest.approx(full.error, rel=1e-3)
    assert _rotation_angle(staged.transform, full.transform) < 0.03  # degrees
    np.testing.assert_allclose(staged.transform[:3, 3], full.transform[:3, 3], atol=0.03)  # mm, on a 120 mm cloud


def test_acceleration_gets_further_in_the_same_iterations():
    """Point-to-point ICP creeps where the surfaces slide along each other; the jumps cover that ground."""
    truth = _similarity(5, -4, 3, [2.0, -1.5, 1.0])
    src, target = _two_samplings(3000, 30_000, truth)
    tree = cKDTree(target)
    at_truth = _mean_distance(src, target, truth)
    plain = icp(src, tree, max_iterations=30, tolerance=0, accelerate=False)
    fast = icp(src, tree, max_iterations=30, tolerance=0, accelerate=True)
    assert fast.error - at_truth < 0.25 * (plain.error - at_truth)
    assert _rotation_angle(fast.transform, truth) < 0.5 * _rotation_angle(plain.transform, truth)


def test_jump_goes_to_the_minimum_of_a_parabola():
    direction = np.array([1.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]) / 3.0
    path = [(s * direction, (s - 10.0) ** 2 + 1.0) for s in (0.0, 1.0, 2.0)]
    np.testing.assert_allclose(icp_module._jump(path, 3.0 * direction), 10.0 * direction, atol=1e-12)
    # not when the path turns, nor when the error is already rising
    assert icp_module._jump(path, 2.0 * direction + np.array([0, 0, 0, 1.0, 0, 0, 0])) is None
    rising = [(p, -e) for p, e in path]
    assert icp_module._jump(rising, 3.0 * direction) is None


def test_icp_recovers_scale():
    src = _cloud(3000, 6)
    truth = _similarity(6, -4, 3, [2.0, 1.0, -3.0], scale=1.3)
    result = icp(src, apply_transform(src, truth), max_iterations=200, tolerance=0, scale=True)
    np.testing.assert_allclose(result.transform, truth, atol=1e-6)
    assert result.error < 1e-6
    rigid = icp(src, apply_transform(src, truth), max_iterations=50, tolerance=0)
    assert rigid.error > 1.0  # a rigid fit cannot take up a 30% scale


def test_max_distance_rejects_far_pairs():
    src = _cloud(2000, 7)
    target = src + [1.0, 0.0, 0.0]
    noisy = src.copy()
    noisy[:100, 2] += 20.0  # 5% of the source lifted 20 mm off the surface: it pulls a plain fit upward
    plain = icp(noisy, target, max_iterations=100, tolerance=0)
    assert abs(plain.transform[2, 3]) > 0.1
    result = icp(noisy, target, max_iterations=100, tolerance=0, max_distance=5.0)
    np.testing.assert_allclose(result.transform[:3, :3], np.eye(3), atol=1e-6)
    np.testing.assert_allclose(result.transform[:3, 3], [1, 0, 0], atol=1e-6)
    former = icp(noisy, target, max_iterations=100, tolerance=0, reject_distance=5.0)  # the former name
    np.testing.assert_allclose(former.transform, result.transform)
    with pytest.raises(ValueError):
        icp(noisy, target, max_distance=5.0, reject_distance=5.0)


def test_trimming_ignores_outliers():
    src = _cloud(2000, 2)
    target = src + [1.0, 0.0, 0.0]
    noisy = src.copy()
    noisy[:100] += 500  # outliers in the source
    result = icp(noisy, target, trim_fraction=0.1, max_iterations=100, tolerance=0)
    np.testing.assert_allclose(result.transform[:3, 3], [1, 0, 0], atol=1e-6)
    with pytest.raises(ValueError):
        icp(noisy, target, trim_fraction=1.0)


def test_trimming_with_scale_and_coarse_to_fine():
    """The evaluation's setting: a near start, scale, trimming, a large source."""
    truth = _similarity(3, 2, -2, [1.0, 2.0, -1.0], scale=1.05)
    src, target = _two_samplings(20_000, 40_000, truth)
    start = _similarity(1, 0, 0, [0.5, 1.5, -0.5], scale=1.03)
    result = icp(src, cKDTree(target), initial=start, max_iterations=40, scale=True, trim_fraction=0.05)
    assert result.iterations <= 40
    assert result.error < 1.1 * _mean_distance(src, target, truth)
    assert np.cbrt(np.linalg.det(result.transform[:3, :3])) == pytest.approx(1.05, abs=0.01)


def test_error_is_the_mean_distance_of_the_whole_aligned_source():
    truth = _similarity(4, -3, 2, [2.0, -1.5, 1.0])
    src, target = _two_samplings(10_000, 20_000, truth)
    for kwargs in ({"tolerance": 1e-3}, {"tolerance": 0.0}, {"trim_fraction": 0.1, "tolerance": 1e-4}):
        result = icp(src, target, max_iterations=30, **kwargs)
        assert result.error == pytest.approx(_mean_distance(src, target, result.transform), rel=1e-12)


def test_a_prebuilt_tree_gives_the_same_answer():
    truth = _similarity(4, -3, 2, [2.0, -1.5, 1.0])
    src, target = _two_samplings(10_000, 20_000, truth)
    a = icp(src, target, max_iterations=30, tolerance=1e-4)
    b = icp(src, cKDTree(target), max_iterations=30, tolerance=1e-4)
    np.testing.assert_array_equal(a.transform, b.transform)
    assert a.error == b.error and a.iterations == b.iterations


def test_the_iteration_cap_counts_every_level():
    truth = _similarity(10, -6, 4, [4.0, -2.0, 2.0])
    src, target = _two_samplings(20_000, 20_000, truth)  # levels of 2000, 8000 and 20000 points
    for cap in (1, 2, 3, 5, 8, 30):
        result = icp(src, target, max_iterations=cap, tolerance=0)
        assert result.iterations <= cap
    start = _similarity(1, 0, 0, [1, 0, 0])
    nothing = icp(src, target, initial=start, max_iterations=0)
    np.testing.assert_array_equal(nothing.transform, start)
    assert nothing.iterations == 0
    assert nothing.error == pytest.approx(_mean_distance(src, target, start))


def test_tolerance_stops_early():
    src = _cloud(3000, 8)
    target = apply_transform(src, _similarity(3, 2, 1, [1, 1, 1]))
    result = icp(src, target, max_iterations=200, tolerance=1e-3)
    assert result.converged and result.iterations < 200


def test_landmark_alignment_with_scale():
    src = _cloud(68, 3)
    dst = 0.5 * src @ rotation_matrix(40, 10, 0).T + 7
    m = landmark_alignment(src, dst)
    np.testing.assert_allclose(apply_transform(src, m), dst, atol=1e-9)
