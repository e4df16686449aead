import numpy as np

from frontside.geometry.crop import landmark_crop, transform_scale, warp_image, warp_vertices


def test_a_dot_lands_on_the_same_pixel_after_warping_image_and_vertex():
    rng = np.random.default_rng(3)
    image = np.zeros((300, 400, 3), np.uint8)
    landmarks = rng.uniform([100, 80], [300, 220], (68, 2))
    dot = np.array([[173.5, 121.5, 10.0]])  # the centre of pixel (col 173, row 121)
    image[121, 173] = 255
    a = landmark_crop(landmarks, 256, rng)
    warped = warp_image(image, a, 256, interpolation=0)  # nearest: the dot stays one pixel
    moved = warp_vertices(dot, a, shift_depth=False)[0]
    row, col = np.unravel_index(warped[..., 0].argmax(), warped.shape[:2])
    assert abs(col + 0.5 - moved[0]) <= 1.0 and abs(row + 0.5 - moved[1]) <= 1.0
    assert moved[2] == np.float32(10.0 * transform_scale(a))


def test_crop_is_square_around_landmarks_and_depth_is_shifted():
    landmarks = np.array([[100, 100], [200, 200]] * 34, float)
    a = landmark_crop(landmarks, 256, rng=None, margin=1.28)
    corners = warp_vertices(np.array([[100, 100, -5], [200, 200, 3]], float), a)
    np.testing.assert_allclose(corners[:, :2], [[28, 28], [228, 228]], atol=1e-4)
    assert corners[:, 2].min() == 0
