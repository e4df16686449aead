"""Both renderers: they draw where the returned vertices say, agree with each other, and composite cleanly."""

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from frontside.geometry.raster import silhouette
from frontside.geometry.transforms import project
from frontside.renderers.backgrounds import composite
from frontside.renderers.lighting import Lighting, sample_lighting
from frontside.renderers.pyrender_renderer import PyrenderRenderer
from frontside.renderers.raster_renderer import RasterRenderer
from frontside.renderers.view import Pose
from frontside.synthesis.pairs import ModelSource

RENDERERS = {"raster": RasterRenderer, "pyrender": PyrenderRenderer}
NAMES = ["raster", pytest.param("pyrender", marks=pytest.mark.slow)]  # OpenGL's cases are the slow tier


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("projection", ["perspective", "orthographic"])
@pytest.mark.parametrize("pose", [Pose(10, 5, -3), Pose(-75, -8, 6, scale=0.9, shift=(0.03, -0.02)), Pose(95, 0, 0)])
def test_rendered_alpha_matches_the_silhouette_of_the_returned_vertices(builtin_model, name, projection, pose):
    rng = np.random.default_rng(0)
    face = builtin_model.face(rng, "f")
    view = RENDERERS[name](projection=projection).render(face, pose, 192, rng)
    assert view.image.shape == (192, 192, 4) and view.vertices.shape == face.vertices.shape
    mesh = silhouette(view.vertices[:, :2], view.vertices[:, 2], face.triangles, 192, 192)
    assert _iou(view.alpha > 127, mesh) >= 0.98
    # the returned matrix is the one used: it projects the mesh onto the same x, y
    np.testing.assert_allclose(project(face.vertices, view.world_to_vcs)[:, :2], view.vertices[:, :2], atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("projection", ["perspective", "orthographic"])
def test_the_two_renderers_agree_on_the_same_face_pose_and_light(builtin_model, projection):
    source = ModelSource(builtin_model)
    raster, gl = RasterRenderer(projection=projection), PyrenderRenderer(projection=projection)
    for i, pose in enumerate([Pose(0, 5, 3), Pose(-35, -10, 5), Pose(80, 8, -6, scale=1.1)]):
        rng = np.random.default_rng(20 + i)
        face = source.face(rng, "f")
        camera, light = raster.camera(face, pose, 256), sample_lighting(rng)
        a, b = (r.render_views(face, [(camera, light)])[0].astype(int) for r in (raster, gl))
        assert _iou(a[..., 3] > 127, b[..., 3] > 127) >= 0.99  # measured 0.993-0.996
        interior = (a[..., 3] == 255) & (b[..., 3] == 255)
        assert np.abs(a - b)[interior][:, :3].mean() < 2.0  # grey levels of 255 (measured 0.5-0.7)
        assert np.abs(a - b).mean() < 1.0  # every pixel and channel, the rim included


@pytest.mark.parametrize("name", NAMES)
def test_renders_show_the_vertex_colours_opaque_and_mostly_unclipped(builtin_model, name):
    face = builtin_model.face(np.random.default_rng(3), "f")
    red, blue = (face.__class__(**{**face.__dict__, "colours": np.tile(c, (len(face.vertices), 1))})
                 for c in ([0.8, 0.2, 0.1], [0.1, 0.2, 0.8]))
    renderer = RENDERERS[name]()
    means = []
    for coloured in (red, blue):
        view = renderer.render(coloured, Pose(0, 0, 0), 128, np.random.default_rng(0))
        inside = view.alpha > 0
        interior = binary_erosion(inside, iterations=2)  # the rim is antialiased
        assert interior.sum() > 2000 and (view.alpha[interior] == 255).all()  # opaque, not blended
        means.append(view.image[..., :3][inside].mean(axis=0))
    assert means[0][0] > 2 * means[0][2] and means[1][2] > 2 * means[1][0]

    # varied skin: tones differ between faces, and a face is rarely blown out
    source = ModelSource(builtin_model)
    clipped, brightness = [], []
    for i in range(8):
        rng = np.random.default_rng(i)
        view = renderer.render(source.face(rng, "f"), Pose(float(rng.uniform(-45, 45))), 96, rng)
        rgb = view.image[..., :3][view.alpha == 255]
        clipped.append((rgb.max(axis=1) >= 254).mean())
        brightness.append(rgb.mean())
    assert np.median(clipped) < 0.05 and np.ptp(brightness) > 30


def test_both_views_of_a_pair_show_the_same_skin(builtin_model):
    # the skin is drawn with the face, not per render: front and side agree in colour (lighting aside)
    source, renderer = ModelSource(builtin_model), RasterRenderer()
    chroma = []
    for i in range(6):
        rng = np.random.default_rng(i)
        face = source.face(rng, "f")
        views = [renderer.render(face, Pose(yaw), 96, rng) for yaw in (0.0, 70.0)]
        rg = [v.image[..., 0][v.alpha == 255].mean() / max(v.image[..., 1][v.alpha == 255].mean(), 1) for v in views]
        chroma.append(rg)
    chroma = np.array(chroma)
    within = np.abs(chroma[:, 0] - chroma[:, 1]).max()  # the same person's two photos
    assert within < 0.05 and within < 0.5 * np.ptp(chroma[:, 0])  # people differ more than their two views


@pytest.mark.slow
def test_pyrender_reusing_its_scene_draws_what_a_rebuilt_scene_draws(builtin_model):
    # one upload per face, lights and poses swapped per view: nothing of a view or face may leak into the next
    source = ModelSource(builtin_model)
    reused, rebuilt = PyrenderRenderer(), PyrenderRenderer(reuse_scene=False)
    rng = np.random.default_rng(5)
    faces = [source.face(rng, "a"), source.face(rng, "b")]
    requests = [[(reused.camera(face, Pose(yaw, 4, -2), 128), sample_lighting(rng)) for yaw in (10, -70)]
                for face in faces]
    for face, views in zip(faces, requests):
        for a, b in zip(reused.render_views(face, views), rebuilt.render_views(face, views)):
            np.testing.assert_array_equal(a, b)
    two_lights = next(v for v in requests[0] + requests[1] if len(v[1].intensities) == 2)
    one_light = next(v for v in requests[0] + requests[1] if len(v[1].intensities) == 1)
    after_two = reused.render_views(faces[0], [two_lights, one_light])[1]
    np.testing.assert_array_equal(after_two, rebuilt.render_views(faces[0], [one_light])[0])


def test_composite_takes_premultiplied_colour_and_applies_alpha_once():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = [0, 0, 0, 255]  # black but opaque (dark hair): must stay black
    rgba[0, 1] = [100, 50, 25, 128]  # (200, 100, 50) at half coverage, premultiplied
    background = np.full((4, 4, 3), 100, np.uint8)
    out = composite(rgba, background)
    assert (out[0, 0] == 0).all()
    assert (out[1, 1] == 100).all()
    np.testing.assert_allclose(out[0, 1], [150, 100, 75], atol=1)


@pytest.mark.parametrize("name", NAMES)
def test_edge_pixels_lie_between_skin_and_background(builtin_model, name):
    """No dark outline: a grey face lit evenly (ambient only) has one skin colour C, so over white every rim pixel
    must come out between C and 255; alpha applied twice drags rims with alpha > 255 / C - 1 below C."""
    face = builtin_model.face(np.random.default_rng(7), "f")
    grey = face.__class__(**{**face.__dict__, "colours": np.full((len(face.vertices), 3), 0.5)})
    renderer = RENDERERS[name]()
    even = Lighting(ambient=1.0, towards=np.zeros((0, 3)), intensities=np.zeros(0))
    image = renderer.render_views(grey, [(renderer.camera(grey, Pose(20, 0, 0), 160), even)])[0]
    skin = round(255 * 0.5 ** (1 / 2.2))  # pyrender's gamma of albedo x ambient
    alpha = image[..., 3]
    assert np.abs(image[..., :3][alpha == 255].astype(int) - skin).max() <= 1
    rim = (alpha > 0) & (alpha < 255)
    assert rim.sum() > 100
    out = composite(image, np.full((160, 160, 3), 255, np.uint8)).astype(int)
    assert (out[rim] >= skin - 1).all() and (out[rim] <= 255).all()
    # what the test guards against (the old compositing of these premultiplied pixels)
    a = alpha[..., None] / 255.0
    twice = image[..., :3] * a + 255 * (1 - a)
    assert (twice[rim] < skin - 1).any(axis=1).mean() > 0.3


def test_composite_is_the_float32_blend_of_premultiplied_colour_exactly():
    """The one-pass kernel gives the bytes of rgb + background x (1 - alpha / 255) + 0.5 in float32, truncated,
    for any coverage, also over a strided window of a larger canvas (how photos are pasted)."""
    rng = np.random.default_rng(4)
    alpha = rng.integers(0, 256, (64, 64, 1)).astype(np.uint8)
    rgba = np.concatenate([(rng.random((64, 64, 3)) * alpha).astype(np.uint8), alpha], axis=-1)
    canvas = rng.integers(0, 256, (100, 100, 3)).astype(np.uint8)
    background = canvas[10:74, 20:84]
    keep = 1.0 - alpha.astype(np.float32) / np.float32(255.0)
    expected = np.clip(rgba[..., :3].astype(np.float32) + background.astype(np.float32) * keep + np.float32(0.5),
                       0, 255).astype(np.uint8)
    np.testing.assert_array_equal(composite(rgba, background), expected)
    with pytest.raises(ValueError, match="composite needs"):
        composite(rgba[..., :3], background)


def test_shading_in_the_kernel_equals_shading_vertices_moved_to_the_eye_first():
    """World vertices and normals moved by M_WCS->ECS inside the kernel (normals by the inverse transpose, here
    under a non-uniform scale) shade as the same vertices moved beforehand; the gamma table stays within 1e-5
    of pow(x, 1 / 2.2) over [0, 1]."""
    from frontside.geometry.transforms import rotation_matrix, wcs_to_ecs
    from frontside.renderers import shading

    rng = np.random.default_rng(5)
    points = rng.normal(0, 1, (500, 3))
    normals = rng.normal(0, 1, (500, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    albedo = rng.uniform(0, 1, (500, 3))
    to_eye = wcs_to_ecs(1.0, rotation_matrix(30, -15, 10) @ np.diag([1.2, 0.9, 1.0]), [0.2, -0.1, -9.0])
    eye = points @ to_eye[:3, :3].T + to_eye[:3, 3]
    eye_normals = normals @ np.linalg.inv(to_eye[:3, :3])
    eye_normals /= np.linalg.norm(eye_normals, axis=1, keepdims=True)
    lighting = sample_lighting(np.random.default_rng(6))
    np.testing.assert_allclose(shading.shade_vertices(points, normals, albedo, lighting, to_eye=to_eye),
                               shading.shade_vertices(eye, eye_normals, albedo, lighting), atol=1e-6)
    x = np.linspace(0.0, 1.0, 100_001)
    table = np.array([shading._gamma(v, shading._GAMMA_TABLE) for v in x[::97]])
    np.testing.assert_allclose(table, x[::97] ** (1 / 2.2), atol=1e-5)
    assert shading._gamma(1.7, shading._GAMMA_TABLE) == pytest.approx(1.0)
    assert shading._gamma(0.0, shading._GAMMA_TABLE) == 0.0
