"""AFLW2000-3D (issue 22, item 4): fixtures written in exactly its layout (imageNNNNN.jpg beside imageNNNNN.mat:
pt3d_68 3 x 68, pt2d, Pose_Para 1 x 7, Shape_Para, Exp_Para, roi; scipy.io.savemat), posed by face3d's own recipe
written out in the test (`made_files.face3d_image_vertices`), so the loader's conventions are checked against it:
- real photos with a face: crops of the shipped portraits, fitted (3DDFA-style, the mean face placed on dlib's 68
  points) at hand-set yaws;
- rendered faces: the built-in model's mean face drawn orthographically at 20 and 70 degrees of yaw, whose true
  pose gives Pose_Para exactly.
The BFM is the built-in model written in face3d's layout (`save_bfm`), so the fits' dense truth is a face."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from made_files import pose_para_from_2d, pose_para_from_similarity, write_aflw2000_sample

from frontside.errors import InputFormatError
from frontside.evaluation.aflw2000 import PhotoPrediction, landmark_nmes, score_photo, summary, yaw_bin
from frontside.sources.aflw2000 import read_samples

ROOT = Path(__file__).resolve().parents[1]
SIDE = 450  # AFLW2000-3D's photos are 450 x 450
# portrait -> (pitch, yaw, roll) in radians, 300W-LP's signs (+yaw: the nose to the viewer's left)
PORTRAIT_POSES = {"astronaut": (0.0, 0.1, 0.0), "camera": (0.0, -0.7, 0.05), "grace_hopper": (0.05, -0.05, 0.0)}


def _portrait_crop(photo) -> tuple[np.ndarray, np.ndarray]:
    """A SIDE x SIDE crop of a portrait around its face (edge-padded), and its landmarks in the crop."""
    lo, hi = photo.reference.min(0), photo.reference.max(0)
    x0, y0 = ((lo + hi) / 2 - SIDE / 2).astype(int)
    padded = np.pad(photo.image, ((SIDE, SIDE), (SIDE, SIDE), (0, 0)), mode="edge")
    crop = np.ascontiguousarray(padded[y0 + SIDE:y0 + 2 * SIDE, x0 + SIDE:x0 + 2 * SIDE])
    return crop, photo.reference - [x0, y0]


@pytest.fixture(scope="module")
def aflw(tmp_path_factory, builtin_model):
    """(root, BFM spec, the BFM, {name: true 68 landmarks of the rendered samples in our frame})."""
    from frontside.facemodel import load_model
    from frontside.facemodel.bfm import save_bfm
    from frontside.renderers.backgrounds import composite
    from frontside.renderers.raster_renderer import RasterRenderer
    from frontside.renderers.view import Pose
    from tools.real_photos import portraits

    base = tmp_path_factory.mktemp("aflw2000")
    save_bfm(builtin_model, base / "BFM.mat", base / "BFM_UV.mat")
    spec = f"bfm:{base / 'BFM.mat'},uv={base / 'BFM_UV.mat'}"
    model = load_model(spec)
    root = base / "AFLW2000"
    root.mkdir()
    mean_landmarks = model.mean_face().vertices[model.landmarks]
    for index, photo in enumerate(portraits(), start=1):
        crop, points = _portrait_crop(photo)
        write_aflw2000_sample(root, index, crop, model,
                              pose_para_from_2d(mean_landmarks, points, SIDE, *PORTRAIT_POSES[photo.name]))
    rendered = {}
    renderer, face = RasterRenderer(projection="orthographic"), model.mean_face()
    for index, yaw in ((4, 20.0), (5, 70.0)):
        view = renderer.render(face, Pose(yaw=yaw, pitch=5.0, roll=0.0), 300, np.random.default_rng(index))
        photo = np.full((SIDE, SIDE, 3), 110, np.uint8)
        photo[60:360, 90:390] = composite(view.image, photo[60:360, 90:390])
        vertices = view.vertices.astype(np.float64) + [90, 60, 0]
        write_aflw2000_sample(root, index, photo, model, pose_para_from_similarity(face.vertices, vertices, SIDE))
        rendered[f"image{index:05d}"] = vertices[model.landmarks]
    return root, spec, model, rendered


def test_the_loader_reads_the_layout_in_our_frame(aflw):
    """pt3d_68 moves to +0.5 pixel centres; the fit posed by our 300W-LP code lands on it (so on face3d's
    recipe); on the rendered samples both are the render's true landmarks; yaw is Pose_Para's, in degrees."""
    root, _, model, rendered = aflw
    samples = read_samples(root)
    assert [s.name for s in samples] == [f"image{i:05d}" for i in range(1, 6)]
    for sample in samples:
        stored = scipy.io.loadmat(str(sample.mat_path))
        assert np.allclose(sample.landmarks, stored["pt3d_68"].T + [0.5, 0.5, 0.0])
        assert sample.yaw == pytest.approx(abs(math.degrees(stored["Pose_Para"][0, 1])))
        assert sample.size == (SIDE, SIDE)
        assert np.abs(sample.dense_truth(model)[model.landmarks] - sample.landmarks).max() < 1e-2
        if sample.name in rendered:
            assert np.abs(sample.landmarks - rendered[sample.name]).max() < 0.05
    assert [yaw_bin(s.yaw) for s in samples] == [0, 1, 0, 0, 2]  # astronaut, camera (40°), grace_hopper, renders


def test_known_answers_score_as_the_protocol_says():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.uniform(100, 200, 68), rng.uniform(150, 230, 68), rng.uniform(-40, 40, 68)])
    d = math.sqrt(np.ptp(truth[:, 0]) * np.ptp(truth[:, 1]))
    assert landmark_nmes(truth, truth) == (0.0, 0.0)
    assert landmark_nmes(truth + [2.0, 0, 0], truth) == pytest.approx((2 / d, 2 / d))
    assert landmark_nmes(truth + [0, 0, 55.0], truth) == pytest.approx((0.0, 0.0))  # depth origins differ
    nme_2d, nme_3d = landmark_nmes(truth + [0, 0, 1.0] * np.r_[np.ones(34), -np.ones(34)][:, None], truth)
    assert nme_2d == 0.0 and nme_3d == pytest.approx(1 / d)


def test_dense_nme_by_correspondence_and_by_nearest_points(aflw):
    _, _, model, _ = aflw
    sample = read_samples(aflw[0])[4]
    truth = sample.dense_truth(model)
    exact = PhotoPrediction(truth[model.landmarks], truth, truth, True)
    assert score_photo(sample, exact, model).nme_dense == pytest.approx(0.0, abs=1e-9)
    moved = PhotoPrediction(truth[model.landmarks] + [3.0, 0, 0], truth + [3.0, 0, 0], truth + [3.0, 0, 0], False)
    score = score_photo(sample, moved, model)
    d = math.sqrt(np.prod(np.ptp(sample.landmarks[:, :2], axis=0)))
    assert score.nme_dense == pytest.approx(3 / d) and score.nme_2d == pytest.approx(3 / d) and not score.detected
    points_only = PhotoPrediction(truth[model.landmarks], truth[::2], None, True)  # another topology: nearest points
    assert 0 <= score_photo(sample, points_only, model).nme_dense < 0.01


def test_summary_by_yaw_bins():
    from frontside.evaluation.aflw2000 import AFLWScore

    scores = [AFLWScore("a", 10, True, 0.02, 0.03), AFLWScore("b", 45, True, 0.04, 0.05),
              AFLWScore("c", 75, False, 0.06, 0.09), AFLWScore("d", 95, True, 0.08, 0.11)]
    s = summary(scores)
    assert s["per_bin"] == [1, 1, 2] and s["detected"] == 3
    assert s["nme_2d"]["by_bin"] == pytest.approx([0.02, 0.04, 0.07])
    assert s["nme_2d"]["balanced"] == pytest.approx(0.13 / 3) and s["nme_2d"]["all"] == pytest.approx(0.05)
    assert "nme_dense" not in s


def test_bad_annotations_name_the_file_and_the_key(aflw, tmp_path):
    root = aflw[0]
    good = scipy.io.loadmat(str(root / "image00001.mat"))
    keys = {k: v for k, v in good.items() if not k.startswith("__")}
    cases = {"pt3d_68": ("pt3d_68", None), "Pose_Para": ("Pose_Para", np.zeros((1, 6))),
             "roi": ("roi", np.full((1, 4), np.nan)), "Shape_Para": ("Shape_Para", None)}
    for name, (key, value) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(root / "image00001.jpg", folder / "image00001.jpg")
        broken = {k: v for k, v in keys.items() if k != key}
        if value is not None:
            broken[key] = value
        scipy.io.savemat(str(folder / "image00001.mat"), broken)
        with pytest.raises(InputFormatError, match=rf"image00001\.mat: {key}: "):
            read_samples(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="no AFLW2000-3D photo"):
        read_samples(tmp_path / "empty")
    (tmp_path / "lonely").mkdir()
    shutil.copy(root / "image00001.jpg", tmp_path / "lonely" / "image00001.jpg")
    with pytest.raises(InputFormatError, match=r"image00001\.mat: file: does not exist"):
        read_samples(tmp_path / "lonely")


@pytest.mark.slow
def test_the_evaluate_command_reports_both_nmes_by_yaw_bin(aflw, tmp_path):
    """`frontside evaluate --aflw2000 ROOT --model bfm:...` as a user runs it, with an untrained front-only
    network: every photo reconstructed through the pipeline (the portraits' first crops from the detector), 2D,
    3D and dense NME by yaw bin in report.json and report.md, and a CED plot; a two-view network is refused."""
    import torch

    from frontside.learning.checkpoint.saving import save_checkpoint
    from frontside.learning.networks.registry import build

    root, spec, _, _ = aflw
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "frontonly" / "best.pt", network=build("frontonly", width=0.25))
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "frontside.cli", "evaluate", "--checkpoint", str(checkpoint),
                           "--aflw2000", str(root), "--model", spec, "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    (result,) = report["models"]
    assert result["name"] == "frontonly" and result["arch"] == "frontonly" and result["photos"] == 5
    assert result["per_bin"] == [3, 1, 1] and result["detected"] >= 3
    for metric in ("nme_2d", "nme_3d", "nme_dense"):
        assert len(result[metric]["by_bin"]) == 3 and all(np.isfinite(result[metric]["by_bin"]))
        assert result[metric]["all"] > 0
    faces = report["faces"]["frontonly"]
    assert {f["name"] for f in faces if f["detected"]} >= {"image00001", "image00002", "image00003"}
    markdown = (out / "report.md").read_text()
    assert "| frontonly | 2d |" in markdown and "| frontonly | 3d |" in markdown and "0-30° (3)" in markdown
    assert (out / "ced.png").stat().st_size > 5000
    twoview = save_checkpoint(tmp_path / "twoview" / "best.pt", network=build("twoview", width=0.25))
    done = subprocess.run([sys.executable, "-m", "frontside.cli", "evaluate", "--checkpoint", str(twoview),
                           "--aflw2000", str(root), "--out", str(tmp_path / "refused")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 2 and "two-view network" in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "refused").exists()
