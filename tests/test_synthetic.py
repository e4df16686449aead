import numpy as np
import pytest
from PIL import Image

from frontside.errors import InputFormatError
from frontside.geometry.raster import silhouette
from frontside.renderers.backgrounds import Backgrounds
from frontside.renderers.pyrender_renderer import PyrenderRenderer
from frontside.renderers.raster_renderer import RasterRenderer
from frontside.renderers.view import Pose
from frontside.store.records import Part
from frontside.synthesis.pairs import ModelSource, PoseRanges, make_face, sample_poses


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_dtd_folder_skips_unreadable_images_and_crops_anywhere(tmp_path):
    images = tmp_path / "dtd" / "images"
    for category in ("banded", "dotted"):
        (images / category).mkdir(parents=True)
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(
            images / category / "a.jpg")
    (images / "dotted" / "broken.jpg").write_bytes(b"not a jpeg")
    backgrounds = Backgrounds.from_folder(tmp_path / "dtd")
    assert backgrounds.skipped == 1 and len(backgrounds.paths) == 2
    rng = np.random.default_rng(0)
    crops = [backgrounds.sample(rng, 64, 64) for _ in range(6)]
    assert all(c.shape == (64, 64, 3) for c in crops)
    small = Backgrounds.from_folder(tmp_path / "dtd").sample(rng, 512, 512)  # smaller than the view: rescaled
    assert small.shape == (512, 512, 3)


def test_background_is_a_random_window_magnified_one_to_one_and_a_half_times(tmp_path):
    x = np.arange(240, dtype=np.float32)
    texture = np.zeros((200, 240, 3), np.uint8)
    texture[..., 0] = x[None, :]  # red counts columns, green counts rows
    texture[..., 1] = np.arange(200, dtype=np.uint8)[:, None]
    (tmp_path / "images" / "ramp").mkdir(parents=True)
    Image.fromarray(texture).save(tmp_path / "images" / "ramp" / "ramp.png")
    backgrounds, rng = Backgrounds.from_folder(tmp_path), np.random.default_rng(3)
    corners = set()
    for _ in range(8):
        crop = backgrounds.sample(rng, 64, 64).astype(np.float32)
        step_x = np.diff(crop[32, 8:56, 0]).mean()  # texture columns per output pixel: 1 / magnification
        step_y = np.diff(crop[8:56, 32, 1]).mean()
        assert 1 / 1.5 - 0.02 <= step_x <= 1.02 and abs(step_x - step_y) < 0.05  # uint8 rounding: 1 / 48
        corners.add((int(crop[0, 0, 0]), int(crop[0, 0, 1])))
    assert len(corners) >= 6  # anywhere in the texture, not one corner


def test_dtd_folder_with_nothing_readable_is_a_clear_error(tmp_path):
    (tmp_path / "images" / "x").mkdir(parents=True)
    (tmp_path / "images" / "x" / "a.jpg").write_bytes(b"junk")
    with pytest.raises(InputFormatError, match="no readable image"):
        Backgrounds.from_folder(tmp_path)


def test_builtin_backgrounds_vary():
    b = Backgrounds.from_folder(None)
    rng = np.random.default_rng(0)
    samples = [b.sample(rng, 32, 32) for _ in range(8)]
    assert len({s.tobytes() for s in samples}) == 8


def test_pose_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        front, side = sample_poses(rng, PoseRanges())
        assert abs(front.yaw) <= 45 and 45 <= abs(side.yaw) <= 100


NAMES = ["raster", pytest.param("pyrender", marks=pytest.mark.slow)]  # OpenGL's cases are the slow tier


class _Pairs(dict):
    """Two faces of two views per renderer from the same seeds, {renderer: [Face, Face]}, each renderer's made
    when first asked for (so the unit tier never starts OpenGL)."""

    def __init__(self, model):
        super().__init__()
        self.source, self.backgrounds = ModelSource(model), Backgrounds.from_folder(None)

    def __missing__(self, name: str) -> list:
        renderer = RasterRenderer() if name == "raster" else PyrenderRenderer()
        self[name] = [make_face(self.source, renderer, self.backgrounds, np.random.default_rng(seed), face_id="f",
                                face_index=0, seed=1) for seed in (11, 12)]
        return self[name]


@pytest.fixture(scope="module")
def pairs(builtin_model):
    return _Pairs(builtin_model)


@pytest.mark.parametrize("name", NAMES)
def test_make_face_is_deterministic_and_labels_fit_the_pixels(builtin_model, pairs, name):
    source, backgrounds = ModelSource(builtin_model), Backgrounds.from_folder(None)
    renderer = RasterRenderer() if name == "raster" else PyrenderRenderer()
    a = pairs[name][0]
    b = make_face(source, renderer, backgrounds, np.random.default_rng(11), face_id="f", face_index=0, seed=1)
    assert a.front.tobytes() == b.front.tobytes() and a.side.tobytes() == b.side.tobytes()
    np.testing.assert_array_equal(a.posmap, b.posmap)
    np.testing.assert_array_equal(a.side_view.segmentation, b.side_view.segmentation)
    assert a.front.shape == a.side.shape == (256, 256, 3) and a.posmap.shape == (256, 256, 3)
    assert a.views[1].kind == ("right" if a.views[1].yaw > 0 else "left") and a.meta.renderer == name
    assert a.posmap[..., 2][a.mask].min() == pytest.approx(0, abs=1e-3)
    # landmarks lie inside the crop, where the face is
    assert (a.landmarks[:, :2] > 0).all() and (a.landmarks[:, :2] < 256).all()
    np.testing.assert_array_equal(a.landmarks, a.front_view.landmarks)


@pytest.mark.parametrize("name", NAMES)
def test_each_views_labels_match_its_pixels(pairs, name):
    """The labels come from the geometry, the pixels from the renderer: the face's parts cover what was drawn."""
    for pair in pairs[name]:
        for image, labels in ((pair.front, pair.front_view), (pair.side, pair.side_view)):
            face = labels.segmentation != Part.BACKGROUND
            assert np.array_equal(face, np.isfinite(labels.depth))
            assert labels.camera is not None and labels.lighting is not None
            assert labels.camera.size == 256 and image.shape == (256, 256, 3)
            present = set(np.unique(labels.segmentation))
            assert {Part.SKIN, Part.HEAD, Part.NOSE}.issubset(present)
        # the front shows both eyes and the mouth; the side view hides the far half of the face
        assert {Part.EYES, Part.LIPS, Part.BROWS}.issubset(set(np.unique(pair.front_view.segmentation)))
        assert pair.front_view.visible.sum() >= 60
        far = slice(9, 17) if pair.views[1].yaw > 0 else slice(0, 8)  # +yaw turns the face's +x half away
        near = slice(0, 8) if pair.views[1].yaw > 0 else slice(9, 17)
        assert pair.side_view.visible[far].mean() <= 0.25 and pair.side_view.visible[near].mean() >= 0.75


@pytest.mark.parametrize("name", NAMES)
def test_labels_coverage_matches_the_rendered_alpha(builtin_model, name):
    from frontside.synthesis.pairs import render_views

    renderer = RasterRenderer() if name == "raster" else PyrenderRenderer()
    rng = np.random.default_rng(3)
    face = ModelSource(builtin_model).face(rng, "f")
    for rgba, _, labels in render_views(face, renderer, (Pose(15, 5, 0), Pose(-80, 0, 5)), rng, 256):
        assert _iou(rgba[..., 3] > 127, labels.segmentation > 0) >= 0.98


def test_camera_and_depth_reproject_the_face(builtin_model, pairs):
    """A user can re-project: the recorded camera maps the face's world landmarks onto the recorded landmarks, and
    the front depth map holds the posmap's z where the surface is seen."""
    from frontside.geometry.transforms import project

    pair = pairs["raster"][0]
    face, tone = ModelSource(builtin_model).draw(np.random.default_rng(11), "f")  # the same first draws
    np.testing.assert_allclose(tone, pair.skin_tone)
    for labels in (pair.front_view, pair.side_view):
        xy = project(face.vertices[face.landmarks], labels.camera.world_to_vcs)[:, :2]
        np.testing.assert_allclose(xy, labels.landmarks[:, :2], atol=2e-3)
    visible = pair.front_view.visible
    pixels = np.floor(pair.landmarks[visible, :2]).astype(int)
    seen = pair.front_view.depth[pixels[:, 1], pixels[:, 0]]
    np.testing.assert_allclose(seen, pair.landmarks[visible, 2], atol=0.02 * 256)


def test_size_sets_images_posmap_and_labels(builtin_model):
    pair = make_face(ModelSource(builtin_model), RasterRenderer(), None, np.random.default_rng(2), face_id="f",
                     face_index=0, seed=0, size=96)
    assert pair.front.shape == pair.side.shape == (96, 96, 3) and pair.posmap.shape == (96, 96, 3)
    assert pair.mask.shape == pair.front_view.segmentation.shape == pair.side_view.depth.shape == (96, 96)
    assert pair.size == 96 and (pair.landmarks[:, :2] > 0).all() and (pair.landmarks[:, :2] < 96).all()
    # the posmap convention at any size: x = u (S - 1) + 0.5 on the UV side, values in crop pixels
    assert 0 < pair.posmap[..., :2][pair.mask].mean() < 96


def test_make_face_posmap_projects_onto_the_face_pixels(builtin_model):
    """Rendered whole and cropped by warping (FaceGen's path): the posmap's mesh lands on the face's pixels."""
    from frontside.geometry.posmap import rasterize_posmap
    from frontside.synthesis.pairs import crop_view

    rng = np.random.default_rng(4)
    face = builtin_model.face(rng, "f")
    view = RasterRenderer().render(face, Pose(20, 5, 0), 256, rng)
    rgba, vertices = crop_view(view, face.landmarks, rng)
    posmap, mask = rasterize_posmap(face.uv, face.triangles, vertices)
    mesh = silhouette(vertices[:, :2], vertices[:, 2], face.triangles, 256, 256)
    assert _iou(rgba[..., 3] > 127, mesh) >= 0.97
    xs, ys = posmap[mask][:, 0], posmap[mask][:, 1]
    inside = (xs >= 0) & (xs < 256) & (ys >= 0) & (ys < 256)
    hits = rgba[ys[inside].astype(int), xs[inside].astype(int), 3] > 0
    assert hits.mean() > 0.9  # the few misses are surface points hidden behind others (nose side, jaw)
