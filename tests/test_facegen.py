"""The FaceGen driver against a fake `fg3` executable (a real subprocess) that writes FaceGen's files."""

import os
import struct
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from frontside.errors import ExternalToolError, InputFormatError
from frontside.geometry.mesh_io import read_obj
from frontside.geometry.raster import silhouette
from frontside.geometry.transforms import rotation_matrix
from frontside.renderers.facegen import FaceGenConfig, FaceGenRenderer, FaceGenSource, parse_camera_xml
from frontside.renderers.facegen.settings import (
    facegen_pose,
    facegen_rotation,
    random_light_direction,
    read_lighting,
    read_render_settings,
    write_render_settings,
)
from frontside.renderers.facegen.tri import (
    DeltaMorph,
    LabelledVertex,
    SurfacePoint,
    TargetMorph,
    TriMesh,
    per_vertex_uv,
    read_tri,
    tri_bytes,
    triangulate,
    write_tri,
)
from frontside.renderers.view import Pose

FAKE = Path(__file__).parent / "fake_fg3"


def _models(tmp_path, builtin_model) -> Path:
    """A BFM-layout copy of the built-in model: the fake's 'SAM' and 'integrated SSM'."""
    from frontside.facemodel.bfm import save_bfm

    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    save_bfm(builtin_model, models / "BFM.mat", models / "BFM_UV.mat")
    return models / "BFM.mat"


@pytest.fixture
def fake_env(tmp_path, monkeypatch, builtin_model) -> Path:
    """The fake's environment (its model, the Python to run it with), without putting it on PATH."""
    fg3 = FAKE / "fg3"
    assert os.access(fg3, os.X_OK), f"{fg3} lost its executable bit: chmod +x it"
    monkeypatch.setenv("FAKE_FG3_PYTHON", sys.executable)
    model = _models(tmp_path, builtin_model)
    monkeypatch.setenv("FAKE_FG3_MODEL", str(model))
    return model


@pytest.fixture
def fake_fg3(tmp_path, monkeypatch, fake_env) -> FaceGenConfig:
    """The fake `fg3` folder on PATH, as a user's FaceGen SDK would be; the config names plain `fg3`."""
    monkeypatch.setenv("PATH", f"{FAKE}{os.pathsep}{os.environ['PATH']}")
    return FaceGenConfig(topology=f"bfm:{fake_env}", workdir=str(tmp_path / "work"), timeout=60)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


# ---- cameras ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("layout,style,hcs", [("a", "count", "0"), ("b", "elems", "1"), ("c", "count", "1"),
                                              ("c6", "elems", "0")])
def test_parsed_cameras_match_the_truth_and_the_pixels(fake_fg3, monkeypatch, layout, style, hcs):
    monkeypatch.setenv("FAKE_FG3_LAYOUT", layout)
    monkeypatch.setenv("FAKE_FG3_VECTOR", style)
    monkeypatch.setenv("FAKE_FG3_HCS", hcs)
    rng = np.random.default_rng(0)
    source, renderer = FaceGenSource(fake_fg3), FaceGenRenderer(fake_fg3)
    face = source.face(rng, "face-000001")
    for pose in (Pose(15, 5, -4), Pose(-80, -6, 3, scale=0.95, shift=(0.02, -0.03))):
        view = renderer.render(face, pose, 160, rng)
        folder = Path(face.handle)
        name = "front" if abs(pose.yaw) <= 45 else "left"
        camera = parse_camera_xml(folder / f"{name}_cam.xml", folder / f"{name}_pose.xml")
        assert camera.layout == layout[0]
        # In front of the camera: OpenGL eye z < 0 and homogeneous w > 0 for every vertex, depth inside [-1, 1].
        eye = face.vertices @ camera.wcs_to_ecs[:3, :3].T + camera.wcs_to_ecs[:3, 3]
        assert eye[:, 2].max() < 0
        assert camera.clip_w(face.vertices).min() > 0
        clip = np.c_[eye, np.ones(len(eye))] @ camera.ecs_to_css.T
        assert np.all(np.abs(clip[:, 2] / clip[:, 3]) <= 1)
        # The matrices are the fake's known camera, and the projected mesh covers the rendered face.
        truth = np.load(folder / f"{name}_truth.npy")
        np.testing.assert_allclose(view.world_to_vcs, truth, rtol=1e-7, atol=1e-7 * np.abs(truth).max())
        mesh = silhouette(view.vertices[:, :2], view.vertices[:, 2], face.triangles, 160, 160)
        assert _iou(view.alpha > 0, mesh) >= 0.98


def _camera_xml(modelview: str, frustum: str, size=(200, 100)) -> str:
    return ("<boost_serialization><val><modelview>" + modelview + "</modelview>" + frustum +
            f"<imagePixelSize><m><count>2</count><item>{size[0]}</item><item>{size[1]}</item></m></imagePixelSize>"
            "</val></boost_serialization>")


def _items(values) -> str:
    return f"<m><count>{len(values)}</count>" + "".join(f"<item>{v!r}</item>" for v in values) + "</m>"


# One camera, written by hand in each layout: 500 units in front of the origin (OpenGL eye z = -500), a near
# plane at 400 with half sizes 40 x 20 (tangents 0.1, 0.05) and a 200 x 100 image.
AFFINE = ("<linear>" + _items([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]) + "</linear>"
          "<translation>" + _items([0.0, 0.0, -500.0]) + "</translation>")
SIMILARITY = ("<scale>1</scale><rot><real>1</real><imag>" + _items([0.0, 0.0, 0.0]) + "</imag></rot>"
              "<trans>" + _items([0.0, 0.0, -500.0]) + "</trans>")
HALF_SIZES = ("<frustum><nearHalfWidth>40</nearHalfWidth><nearHalfHeight>20</nearHalfHeight>"
              "<nearDist>400</nearDist><farDist>600</farDist></frustum>")
SIX_PLANES = "<frustum>" + _items([-40.0, 40.0, -20.0, 20.0, 400.0, 600.0]) + "</frustum>"


@pytest.mark.parametrize("layout,modelview,frustum", [("a", AFFINE, SIX_PLANES), ("b", AFFINE, HALF_SIZES),
                                                      ("c", SIMILARITY, HALF_SIZES), ("c", SIMILARITY, SIX_PLANES)])
def test_hand_written_camera_puts_the_origin_in_front_and_axes_the_right_way(tmp_path, layout, modelview,
                                                                             frustum):
    """Independent of the fake: world +x goes right, +y goes up (smaller rows), the origin lands at the image
    centre (100, 50) in the +0.5 pixel-centre frame, and it lies in front of the camera, in every layout."""
    (tmp_path / "v_cam.xml").write_text(_camera_xml(modelview, frustum))
    camera = parse_camera_xml(tmp_path / "v_cam.xml")
    assert camera.layout == layout and camera.image_size == (200, 100)
    points = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 50.0]])
    assert camera.clip_w(points) == pytest.approx([500.0, 500.0, 500.0, 450.0])
    xyz = camera.image_vertices(points)
    # x: 10 / 500 / 0.1 = 0.2 of the half width right of centre; y: 5 / 500 / 0.05 = 0.2 of the half height up.
    np.testing.assert_allclose(xyz[:, :2], [[100, 50], [120, 50], [100, 40], [100, 50]], atol=1e-4)
    assert xyz[3, 2] > xyz[0, 2]  # the point nearer the camera has the larger image z


@pytest.mark.slow
def test_a_direct3d_style_camera_is_rejected_naming_the_file(fake_fg3, monkeypatch):
    """A modelview mirrored to look down +z (how layout (b) used to be read) puts the face behind an OpenGL
    camera; the driver must say so instead of returning labels mirrored through the image centre."""
    monkeypatch.setenv("FAKE_FG3_LAYOUT", "b")
    monkeypatch.setenv("FAKE_FG3_D3D", "1")
    rng = np.random.default_rng(3)
    face = FaceGenSource(fake_fg3).face(rng, "face-000003")
    with pytest.raises(InputFormatError) as err:
        FaceGenRenderer(fake_fg3).render(face, Pose(0, 0, 0), 96, rng)
    assert "front_cam.xml" in str(err.value) and "modelview" in str(err.value) and "behind" in str(err.value)


def test_camera_xml_errors_name_file_and_element(tmp_path):
    (tmp_path / "front_cam.xml").write_text(
        "<boost_serialization><camera><modelview><linear><m><count>9</count>" + "<item>1</item>" * 8 +
        "<item>oops</item></m></linear><translation><m><count>3</count><item>0</item><item>0</item>"
        "<item>0</item></m></translation></modelview></camera></boost_serialization>")
    with pytest.raises(InputFormatError) as err:
        parse_camera_xml(tmp_path / "front_cam.xml", image_size=(64, 64))
    assert "front_cam.xml" in str(err.value) and "linear" in str(err.value)
    (tmp_path / "side_cam.xml").write_text("<boost_serialization><camera><modelview><scale>1</scale>"
                                           "</modelview></camera></boost_serialization>")
    with pytest.raises(InputFormatError, match="side_cam.xml: modelview"):
        parse_camera_xml(tmp_path / "side_cam.xml", image_size=(64, 64))


# ---- render settings -------------------------------------------------------------------------------------------

def test_settings_round_trip_and_pose_conversion(tmp_path):
    pose = Pose(30, 10, -5, scale=1.1, shift=(0.05, 0.02))
    fg = facegen_pose(pose)
    np.testing.assert_allclose(facegen_rotation(fg), rotation_matrix(30, 10, -5), atol=1e-12)
    write_render_settings(tmp_path / "front.xml", fg, 256, "m.tri", "m.jpg", np.random.default_rng(0))
    back, size, tri = read_render_settings(tmp_path / "front.xml")
    assert size == 256 and tri == "m.tri"
    assert back.pan == pytest.approx(fg.pan) and back.tilt == pytest.approx(fg.tilt)
    assert back.rel_trans == pytest.approx(fg.rel_trans)


def test_written_lights_point_toward_lights_in_front_of_the_face(tmp_path):
    """FaceGen's light direction is the unit vector *to* the light in OpenGL eye coordinates (z toward the
    viewer), so a key light on the camera's side of the face has direction z > 0."""
    for seed in range(50):
        write_render_settings(tmp_path / "v.xml", facegen_pose(Pose(0, 0, 0)), 64, "m.tri", "m.jpg",
                              np.random.default_rng(seed))
        lighting = read_lighting(tmp_path / "v.xml")
        assert 1 <= len(lighting.lights) <= 2
        for light in lighting.lights:
            direction = np.array(light.direction)
            assert np.linalg.norm(direction) == pytest.approx(1.0)
            assert direction[2] >= np.cos(np.deg2rad(45)) - 1e-12  # toward the camera, within 45 deg of the axis
    mean = np.mean([random_light_direction(np.random.default_rng(s)) for s in range(200)], axis=0)
    assert mean[1] > 0  # from above on average


@pytest.mark.slow
def test_frontal_render_is_lit_by_the_written_lights(fake_fg3):
    """End to end: the fake shades with the settings' lights the way FaceGen defines them (n . direction), so the
    face we render frontally must be clearly brighter than ambient light alone would make it."""
    rng = np.random.default_rng(5)
    face = FaceGenSource(fake_fg3).face(rng, "face-000005")
    view = FaceGenRenderer(fake_fg3).render(face, Pose(0, 0, 0), 128, rng)
    lighting = read_lighting(Path(face.handle) / "front.xml")
    red = view.image[..., 0][view.alpha > 0].astype(float)
    ambient_only = 220.0 * lighting.ambient[0]
    fully_lit = min(220.0 * (lighting.ambient[0] + sum(light.colour[0] for light in lighting.lights)), 255.0)
    assert red.mean() > ambient_only + 0.4 * (fully_lit - ambient_only)


# ---- the fg3 executable and the driver's file path ------------------------------------------------------------

@pytest.mark.slow
def test_source_reads_the_tri_fg3_constructs_through_triexport(fake_fg3, builtin_model):
    face = FaceGenSource(fake_fg3).face(np.random.default_rng(1), "face-000002")
    folder = Path(face.handle)
    for name in ("base_mesh.tri", "bfm.tri"):
        assert (folder / name).read_bytes()[:8] == b"FRTRI003"
    tri = read_tri(folder / "bfm.tri")
    assert len(tri.vertices) == builtin_model.n_vertices and tri.uv is not None
    assert [v.index for v in tri.labelled_vertices] == list(builtin_model.landmarks)
    vertices, triangles, uv = read_obj(folder / "bfm.obj")
    np.testing.assert_allclose(face.vertices, tri.vertices, atol=1e-5)  # through OBJ's 6 decimals
    np.testing.assert_array_equal(triangles, tri.triangles)
    np.testing.assert_allclose(uv, builtin_model.uv, atol=1e-6)


@pytest.mark.slow
def test_frontside_fg3_names_the_executable_off_path(tmp_path, monkeypatch, fake_env):
    monkeypatch.setenv("FRONTSIDE_FG3", str(FAKE / "fg3"))
    monkeypatch.setenv("FRONTSIDE_FACEGEN_TOPOLOGY", f"bfm:{fake_env}")
    monkeypatch.setenv("FRONTSIDE_FACEGEN_WORKDIR", str(tmp_path / "work"))
    config = FaceGenConfig.from_environment()
    assert config.fg3 == str(FAKE / "fg3")
    face = FaceGenSource(config).face(np.random.default_rng(0), "x")
    assert (Path(face.handle) / "bfm.obj").exists()


def test_fg3_missing_from_path(tmp_path):
    config = FaceGenConfig(fg3="fg3-that-does-not-exist", workdir=str(tmp_path))
    with pytest.raises(ExternalToolError, match="not on PATH"):
        FaceGenSource(config).face(np.random.default_rng(0), "x")


@pytest.mark.slow
@pytest.mark.parametrize("variable,value,message", [
    ("FAKE_FG3_FAIL", "construct", "licence file not found"),
    ("FAKE_FG3_NO_OUTPUT", "triexport", "did not write bfm.obj"),
])
def test_fg3_failures_name_the_command_and_keep_stderr(fake_fg3, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ExternalToolError) as err:
        FaceGenSource(fake_fg3).face(np.random.default_rng(0), "x")
    assert message in str(err.value) and "fg3" in str(err.value)


@pytest.mark.slow
def test_fg3_time_out(fake_fg3, monkeypatch):
    monkeypatch.setenv("FAKE_FG3_SLEEP", "5")
    with pytest.raises(ExternalToolError, match="timed out"):
        FaceGenSource(replace(fake_fg3, timeout=0.5)).face(np.random.default_rng(0), "x")


# ---- TRI -------------------------------------------------------------------------------------------------------

def _full_mesh() -> TriMesh:
    """Every section of the format in use: quads, indexed uvs, labels, surface points, both kinds of morph."""
    rng = np.random.default_rng(7)
    vertices = rng.normal(size=(6, 3)).astype(np.float32)
    return TriMesh(
        vertices=vertices, triangles=np.array([[0, 1, 2], [2, 3, 0]]), quads=np.array([[1, 2, 4, 5]]),
        uv=rng.uniform(size=(7, 2)).astype(np.float32), uv_triangles=np.array([[0, 1, 2], [2, 3, 0]]),
        uv_quads=np.array([[4, 5, 6, 1]]),
        labelled_vertices=[LabelledVertex(3, "nose tip"), LabelledVertex(5, "")],
        surface_points=[SurfacePoint(3, (0.25, 0.25, 0.5), "chin")],
        delta_morphs=[DeltaMorph("smile", (rng.normal(size=(6, 3)) * 3).astype(np.float32))],
        target_morphs=[TargetMorph("blink", np.array([1, 4]), rng.normal(size=(2, 3)).astype(np.float32)),
                       TargetMorph("wink", np.array([0]), rng.normal(size=(1, 3)).astype(np.float32))])


def test_tri_round_trip(tmp_path):
    mesh = _full_mesh()
    back = read_tri(write_tri(tmp_path / "m.tri", mesh))
    for name in ("vertices", "triangles", "quads", "uv", "uv_triangles", "uv_quads"):
        np.testing.assert_array_equal(getattr(back, name), getattr(mesh, name), err_msg=name)
    assert back.labelled_vertices == mesh.labelled_vertices
    assert back.surface_points == mesh.surface_points
    assert [m.name for m in back.delta_morphs] == ["smile"]
    peak = np.abs(mesh.delta_morphs[0].deltas).max()
    np.testing.assert_allclose(back.delta_morphs[0].deltas, mesh.delta_morphs[0].deltas, atol=peak / 32766)
    for got, want in zip(back.target_morphs, mesh.target_morphs, strict=True):
        assert got.name == want.name
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.vertices, want.vertices)
    np.testing.assert_array_equal(triangulate(back.triangles, back.quads)[2:], [[1, 2, 4], [4, 5, 1]])


def _label(text: bytes) -> bytes:
    return struct.pack("<I", len(text) + 1) + text + b"\0"


def _fixture_bytes() -> bytes:
    """A TRI built byte by byte from the format description, with per-vertex uvs (ext bit 0, numUvs = 0)."""
    header = struct.pack("<10I", 4, 1, 1, 1, 1, 0, 0x01, 1, 1, 2) + bytes(16)
    verts = struct.pack("<12f", 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0)
    target_verts = struct.pack("<6f", 9, 9, 9, 8, 8, 8)
    facets = struct.pack("<3I", 0, 1, 2) + struct.pack("<4I", 0, 1, 2, 3)
    labelled = struct.pack("<I", 2) + _label(b"eye")
    surf_point = struct.pack("<I3f", 1, 0.5, 0.25, 0.25) + _label(b"mid")
    uvs = struct.pack("<8f", 0, 0, 1, 0, 1, 1, 0, 1)
    delta = _label(b"grow") + struct.pack("<f", 0.5) + struct.pack("<12h", *range(-6, 6))
    target = _label(b"pull") + struct.pack("<I", 2) + struct.pack("<2I", 3, 1)
    return b"FRTRI003" + header + verts + target_verts + facets + labelled + surf_point + uvs + delta + target


def test_tri_hand_built_fixture_field_by_field(tmp_path):
    (tmp_path / "f.tri").write_bytes(_fixture_bytes())
    mesh = read_tri(tmp_path / "f.tri")
    np.testing.assert_array_equal(mesh.vertices, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(mesh.triangles, [[0, 1, 2]])
    np.testing.assert_array_equal(mesh.quads, [[0, 1, 2, 3]])
    assert mesh.labelled_vertices == [LabelledVertex(2, "eye")]
    assert mesh.surface_points == [SurfacePoint(1, (0.5, 0.25, 0.25), "mid")]
    # Per-vertex uvs come back indexed by the vertex indices, as FaceGen's loader converts them.
    np.testing.assert_array_equal(mesh.uv, [[0, 0], [1, 0], [1, 1], [0, 1]])
    np.testing.assert_array_equal(mesh.uv_triangles, [[0, 1, 2]])
    np.testing.assert_array_equal(mesh.uv_quads, [[0, 1, 2, 3]])
    np.testing.assert_array_equal(per_vertex_uv(mesh), mesh.uv)
    assert mesh.delta_morphs[0].name == "grow"
    np.testing.assert_array_equal(mesh.delta_morphs[0].deltas, np.arange(-6, 6).reshape(4, 3) * 0.5)
    assert mesh.target_morphs[0].name == "pull"
    np.testing.assert_array_equal(mesh.target_morphs[0].indices, [3, 1])
    np.testing.assert_array_equal(mesh.target_morphs[0].vertices, [[9, 9, 9], [8, 8, 8]])


def test_tri_writer_bytes_match_the_layout():
    """The writer's bytes for a small indexed-uv mesh, built independently with struct."""
    mesh = TriMesh(vertices=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32), triangles=np.array([[0, 1, 2]]),
                   uv=np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32), uv_triangles=np.array([[3, 1, 2]]),
                   uv_quads=np.zeros((0, 4), np.int64), labelled_vertices=[LabelledVertex(1, "a")],
                   delta_morphs=[DeltaMorph("d", np.array([[0, 0, 32766 * 0.5], [0, 0, 0], [-1, 0, 0]]))])
    expected = (b"FRTRI003" + struct.pack("<10I", 3, 1, 0, 1, 0, 4, 0x01, 1, 0, 0) + bytes(16)
                + struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0) + struct.pack("<3I", 0, 1, 2)
                + struct.pack("<I", 1) + _label(b"a")
                + struct.pack("<8f", 0, 0, 1, 0, 0, 1, 1, 1) + struct.pack("<3I", 3, 1, 2)
                + _label(b"d") + struct.pack("<f", 0.5) + struct.pack("<9h", 0, 0, 32766, 0, 0, 0, -2, 0, 0))
    assert tri_bytes(mesh) == expected


# Offsets into the fixture: header 0-64, vertices -112, target-morph vertices -136, triangle -148, quad -164,
# labelled vertex index -168, its label length -172, its label -176.
@pytest.mark.parametrize("cut,field", [(5, "magic"), (18, "header numQuads"), (64 + 20, "vertices"),
                                       (150, "quads"), (170, "labelled vertex 0 label length"),
                                       (174, "labelled vertex 0 label"),
                                       (len(_fixture_bytes()) - 3, "target morph 'pull' indices")])
def test_tri_truncated_names_file_and_field(tmp_path, cut, field):
    (tmp_path / "cut.tri").write_bytes(_fixture_bytes()[:cut])
    with pytest.raises(InputFormatError) as err:
        read_tri(tmp_path / "cut.tri")
    assert err.value.field == field and err.value.path.endswith("cut.tri")
    assert "truncated" in str(err.value) and "cut.tri" in str(err.value)


@pytest.mark.parametrize("magic,problem", [(b"FRTRI002", "not a FaceGen TRI"), (b"FRTRI103", "encrypted")])
def test_tri_bad_magic_names_file_and_field(tmp_path, magic, problem):
    (tmp_path / "bad.tri").write_bytes(magic + _fixture_bytes()[8:])
    with pytest.raises(InputFormatError) as err:
        read_tri(tmp_path / "bad.tri")
    assert err.value.field == "magic" and "bad.tri" in str(err.value) and problem in str(err.value)


def test_tri_out_of_range_index_is_an_error(tmp_path):
    data = bytearray(_fixture_bytes())
    struct.pack_into("<I", data, 64 + 48 + 24 + 4, 7)  # the triangle's second vertex index: only 4 vertices
    (tmp_path / "idx.tri").write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match=r"idx.tri: triangles: index 7 out of range"):
        read_tri(tmp_path / "idx.tri")
