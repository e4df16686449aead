"""The FaceGen driver against a fake `fg3` executable (a real subprocess) that writes FaceGen's files."""

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from frontside.errors import ExternalToolError, InputFormatError
from frontside.geometry.raster import silhouette
from frontside.renderers.facegen import FaceGenConfig, FaceGenRenderer, FaceGenSource, parse_camera_xml
from frontside.renderers.facegen.settings import facegen_pose, facegen_rotation, read_render_settings
from frontside.renderers.view import Pose

FAKE = Path(__file__).parent / "fake_fg3"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_fg3(tmp_path, monkeypatch, builtin_model):
    """Put a fake fg3 on PATH; the 'SAM' and 'integrated SSM' it uses is a BFM-layout copy of the built-in model."""
    from frontside.facemodel.bfm import save_bfm

    models = tmp_path / "models"
    models.mkdir()
    save_bfm(builtin_model, models / "BFM.mat", models / "BFM_UV.mat")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "fg3"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path[:0] = [{str(FAKE)!r}, {str(ROOT)!r}]\n"
                   "from fake_fg3 import main\nsys.exit(main(sys.argv[1:]))\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_FG3_MODEL", str(models / "BFM.mat"))
    config = FaceGenConfig(topology=f"bfm:{models / 'BFM.mat'}", workdir=str(tmp_path / "work"), timeout=60)
    return config


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("layout,style,hcs", [("a", "count", "0"), ("b", "elems", "0"), ("c", "count", "1")])
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
        truth = np.load(folder / f"{name}_truth.npy")
        np.testing.assert_allclose(view.world_to_vcs, truth, rtol=1e-7, atol=1e-7 * np.abs(truth).max())
        mesh = silhouette(view.vertices[:, :2], view.vertices[:, 2], face.triangles, 160, 160)
        assert _iou(view.alpha > 0, mesh) >= 0.98


def test_settings_round_trip_and_pose_conversion(tmp_path):
    pose = Pose(30, 10, -5, scale=1.1, shift=(0.05, 0.02))
    fg = facegen_pose(pose)
    from frontside.geometry.transforms import rotation_matrix
    from frontside.renderers.facegen.settings import write_render_settings

    np.testing.assert_allclose(facegen_rotation(fg), rotation_matrix(30, 10, -5), atol=1e-12)
    write_render_settings(tmp_path / "front.xml", fg, 256, "m.tri", "m.jpg", np.random.default_rng(0))
    back, size, tri = read_render_settings(tmp_path / "front.xml")
    assert size == 256 and tri == "m.tri"
    assert back.pan == pytest.approx(fg.pan) and back.tilt == pytest.approx(fg.tilt)
    assert back.rel_trans == pytest.approx(fg.rel_trans)


def test_fg3_missing_from_path(tmp_path):
    config = FaceGenConfig(fg3="fg3-that-does-not-exist", workdir=str(tmp_path))
    with pytest.raises(ExternalToolError, match="not on PATH"):
        FaceGenSource(config).face(np.random.default_rng(0), "x")


@pytest.mark.parametrize("variable,value,message", [
    ("FAKE_FG3_FAIL", "construct", "licence file not found"),
    ("FAKE_FG3_NO_OUTPUT", "triexport", "did not write bfm.obj"),
])
def test_fg3_failures_name_the_command_and_keep_stderr(fake_fg3, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ExternalToolError) as err:
        FaceGenSource(fake_fg3).face(np.random.default_rng(0), "x")
    assert message in str(err.value) and "fg3" in str(err.value)


def test_fg3_time_out(fake_fg3, monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("FAKE_FG3_SLEEP", "5")
    with pytest.raises(ExternalToolError, match="timed out"):
        FaceGenSource(replace(fake_fg3, timeout=0.5)).face(np.random.default_rng(0), "x")


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
