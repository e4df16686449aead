import itertools

import numpy as np
import pytest

from frontside.geometry import transforms as T


def test_rotation_handedness_and_order():
    nose = np.array([0.0, 0.0, 1.0])
    assert (T.rotation_matrix(30, 0, 0) @ nose)[0] > 0.49  # +yaw: nose to the viewer's right
    assert (T.rotation_matrix(0, 20, 0) @ nose)[1] < -0.3  # +pitch: nose down
    right = np.array([1.0, 0.0, 0.0])
    assert (T.rotation_matrix(0, 0, 30) @ right)[1] > 0.49  # +roll: counter-clockwise
    r = T.rotation_matrix(20, 10, 5)
    expected = T.rotation_matrix(0, 0, 5) @ T.rotation_matrix(20, 0, 0) @ T.rotation_matrix(0, 10, 0)
    np.testing.assert_allclose(r, expected, atol=1e-12)


@pytest.mark.parametrize("angles", [(20, 10, 5), (-70, -12, 8), (95, 3, -4), (0, 0, 0)])
def test_angles_round_trip(angles):
    if abs(angles[0]) < 90:  # inside the decomposition's range the angles themselves come back
        np.testing.assert_allclose(T.angles_from_matrix(T.rotation_matrix(*angles)), angles, atol=1e-9)
    r = T.rotation_matrix(*T.angles_from_matrix(T.rotation_matrix(*angles)))
    np.testing.assert_allclose(r, T.rotation_matrix(*angles), atol=1e-9)


def _corners(l, r, b, t, n, f, sign):
    pts = []
    for depth, (x, y) in itertools.product([n, f], [(l, b), (r, b), (l, t), (r, t)]):
        k = depth / n
        pts.append([x * k, y * k, sign * depth])
    return np.array(pts)


def test_frustum_corners_land_on_the_css_cube_in_both_conventions():
    l, r, b, t, n, f = -0.3, 0.5, -0.2, 0.4, 1.0, 10.0  # asymmetric
    for convention, sign in [("opengl", -1.0), ("lefthanded", 1.0)]:
        css = T.project(_corners(l, r, b, t, n, f, sign), T.frustum(l, r, b, t, n, f, convention))
        expected = np.array([[x, y, z] for z in (-1, 1) for y in (-1, 1) for x in (-1, 1)], float)
        expected = expected[[0, 1, 2, 3, 4, 5, 6, 7]]
        np.testing.assert_allclose(css, expected, atol=1e-9)


def test_both_conventions_give_the_same_pixels():
    rng = np.random.default_rng(0)
    l, r, b, t, n, f = -0.4, 0.3, -0.25, 0.35, 2.0, 50.0
    eye_gl = np.column_stack([rng.uniform(-1, 1, (50, 2)), -rng.uniform(3, 40, 50)])
    eye_lh = eye_gl * [1, 1, -1]
    vp = T.viewport(320, 240)
    a = T.project(eye_gl, T.compose(vp, T.frustum(l, r, b, t, n, f, "opengl")))
    c = T.project(eye_lh, T.compose(vp, T.frustum(l, r, b, t, n, f, "lefthanded")))
    np.testing.assert_allclose(a, c, atol=1e-9)


def test_tiny_field_of_view_reproduces_orthographic_xy():
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1, 1, (100, 3))
    distance = 1e5
    half = 2.0
    near = distance - 10
    persp = T.frustum(-half * near / distance, half * near / distance, -half * near / distance,
                      half * near / distance, near, distance + 10)
    ortho = T.orthographic(-half, half, -half, half, near, distance + 10)
    m = T.wcs_to_ecs(1.0, np.eye(3), [0, 0, -distance])
    vp = T.viewport(256, 256)
    a = T.project(pts, T.compose(vp, persp, m))[:, :2]
    b = T.project(pts, T.compose(vp, ortho, m))[:, :2]
    np.testing.assert_allclose(a, b, atol=1e-2)


def test_viewport_pixel_centres_and_rows_down():
    vp = T.viewport(4, 2)
    # CSS corners -> image edges; top of CSS (y = +1) is row 0
    np.testing.assert_allclose(T.project(np.array([[-1, 1, -1], [1, -1, 1]]), vp),
                               [[0, 0, 0], [4, 2, 1]])
    # the centre of pixel (0, 0) sits at (0.5, 0.5): CSS x = -1 + 0.5 * 2 / 4
    np.testing.assert_allclose(T.project(np.array([[-0.75, 0.5, 0]]), vp)[0, :2], [0.5, 0.5])


def test_hand_computed_point():
    # eye point (1, 2, -10), symmetric frustum l=-1 r=1 b=-1 t=1 n=5 f=15: x_ndc = 2*5*1/2 / 10 = 0.5
    m = T.compose(T.viewport(200, 100), T.frustum(-1, 1, -1, 1, 5, 15))
    x, y, _ = T.project(np.array([[1.0, 2.0, -10.0]]), m)[0]
    assert x == pytest.approx(150.0)  # (0.5 + 1) / 2 * 200
    assert y == pytest.approx(0.0)  # y_ndc = 1 -> top edge


def test_image_frame_vertices_depth_is_isotropic_and_toward_camera():
    pts = np.array([[0, 0, 0], [0, 0, 1.0], [1.0, 0, 0]])
    m = T.wcs_to_ecs(1.0, np.eye(3), [0, 0, -100])
    proj = T.perspective_fov(10, 1.0, 50, 150)
    v = T.image_frame_vertices(pts, m, proj, T.viewport(256, 256))
    assert v[1, 2] > v[0, 2]  # nearer = larger z
    dx = v[2, 0] - v[0, 0]
    dz = v[1, 2] - v[0, 2]
    assert dz == pytest.approx(dx, rel=0.02)


@pytest.mark.parametrize("convention", ["opengl", "lefthanded"])
def test_a_crop_folded_into_image_frame_vertices_equals_the_crop_applied_after(convention):
    """One composed matrix (eq. 4.1 with the crop folded in) gives what projecting, then cropping, gives: x, y
    through the crop, z scaled by its scale; under perspective and orthographic projections."""
    rng = np.random.default_rng(3)
    points = rng.uniform(-1, 1, (200, 3))
    world_to_eye = T.wcs_to_ecs(1.3, T.rotation_matrix(20, -10, 5), [0.1, -0.2, -8.0 if convention == "opengl"
                                                                       else 8.0])
    angle, scale = np.deg2rad(12.0), 1.7
    crop = np.array([[scale * np.cos(angle), -scale * np.sin(angle), -40.0],
                     [scale * np.sin(angle), scale * np.cos(angle), 25.0], [0, 0, 1]])
    projections = [T.frustum(-0.3, 0.3, -0.3, 0.3, 2.0, 20.0, convention)]
    if convention == "opengl":
        projections.append(T.orthographic(-2, 2, -2, 2, 0.1, 20.0))
    for projection in projections:
        whole = T.image_frame_vertices(points, world_to_eye, projection, T.viewport(256, 256)).astype(np.float64)
        cropped = T.image_frame_vertices(points, world_to_eye, projection, T.viewport(256, 256), crop)
        np.testing.assert_allclose(cropped[:, :2], whole[:, :2] @ crop[:2, :2].T + crop[:2, 2], atol=2e-3)
        np.testing.assert_allclose(cropped[:, 2], whole[:, 2] * scale, rtol=1e-5, atol=1e-4)
