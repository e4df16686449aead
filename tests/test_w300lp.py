"""300W-LP conversion: a tiny tree in 300W-LP's exact layout, built with face3d's own recipe.

The fixture poses the mesh the way face3d / PRN do (raw .mat arrays, angle2matrix_3ddfa written out,
y = H - 1 - y), independently of frontside's code, so the landmark test checks our sign conventions.
"""

from __future__ import annotations

import json
import warnings
from math import cos, sin
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from made_files import N_EXP, N_ID, grid_model

from frontside.errors import InputFormatError

H = W = 160
SCALE = 6.0e-4  # BFM units (~1.5e5 across a face) to pixels, as in 300W-LP's Pose_Para


# --------------------------------------------------------------------------------------------- fixtures

def _angle2matrix_3ddfa(pitch, yaw, roll):
    """face3d's mesh.transform.angle2matrix_3ddfa, written out (radians)."""
    rx = np.array([[1, 0, 0], [0, cos(pitch), sin(pitch)], [0, -sin(pitch), cos(pitch)]])
    ry = np.array([[cos(yaw), 0, -sin(yaw)], [0, 1, 0], [sin(yaw), 0, cos(yaw)]])
    rz = np.array([[cos(roll), sin(roll), 0], [-sin(roll), cos(roll), 0], [0, 0, 1]])
    return rx @ ry @ rz


def _face3d_image_vertices(bfm: dict, pose_para, shape_para, exp_para):
    """PRN's generate_posmap_300WLP: generate_vertices, transform_3ddfa, y = H - 1 - y (integer centres)."""
    flat = (bfm["shapeMU"] + bfm["expMU"]) + bfm["shapePC"] @ shape_para + bfm["expPC"] @ exp_para
    vertices = np.reshape(flat, [3, -1], "F").T
    s, angles, t = pose_para[6], pose_para[:3], pose_para[3:6]
    out = s * vertices @ _angle2matrix_3ddfa(*angles).T + t
    out[:, 1] = H - out[:, 1] - 1
    return out


def _draw(image_vertices, triangles):
    """Face silhouette (grey 200) on a dark background, (H, W, 3) uint8; vertices in PRN's frame."""
    from frontside.geometry.raster import rasterize

    xy = (image_vertices[:, :2] + 0.5).astype(np.float32)  # our raster samples at +0.5 pixel centres
    tri_index, _ = rasterize(xy, image_vertices[:, 2].astype(np.float32), triangles, H, W)
    img = np.full((H, W, 3), 20, np.uint8)
    img[tri_index >= 0] = 200
    return img


# identity -> list of (300W-LP yaw deg, pitch deg, roll deg)
POSES = {
    ("AFW", "AFW_100_1"): [(10, 5, -3), (-30, 0, 4), (60, -5, 2), (80, 3, 0), (105, 0, 0)],
    ("HELEN", "HELEN_200_1"): [(5, 0, 0), (-50, 4, -2)],
    ("IBUG", "IBUG_image_300_1"): [(0, 0, 0), (20, 0, 0)],  # fronts only: no pairs
    ("AFW_Flip", "AFW_100_1"): [(-10, 5, 3), (30, 0, -4), (-60, -5, -2), (-80, 3, 0), (-105, 0, 0)],
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A 300W-LP tree plus the BFM-layout model files; returns (root, model_spec, truth)."""
    from PIL import Image

    from frontside.facemodel.bfm import save_bfm

    base = tmp_path_factory.mktemp("w300lp")
    mat_path, uv_path = base / "BFM.mat", base / "BFM_UV.mat"
    save_bfm(grid_model(), mat_path, uv_path)
    raw = scipy.io.loadmat(str(mat_path))["model"][0, 0]
    bfm = {k: np.asarray(raw[k], np.float64) for k in ("shapeMU", "expMU", "shapePC", "expPC")}
    kpt = np.squeeze(raw["kpt_ind"]).astype(np.int64) - 1
    tri = (np.asarray(raw["tri"]).T if raw["tri"].shape[0] == 3 else np.asarray(raw["tri"])).astype(np.int32) - 1
    root = base / "300W_LP"
    rng = np.random.default_rng(11)
    truth = {}
    for (subset, stem), poses in POSES.items():
        (root / subset).mkdir(parents=True, exist_ok=True)
        shape_para = rng.standard_normal((N_ID, 1)) * 3e4
        exp_para = rng.standard_normal((N_EXP, 1)) * 1e4
        for k, (yaw, pitch, roll) in enumerate(poses):
            name = f"{stem}_{k}"
            pose = np.array([np.deg2rad(pitch), np.deg2rad(yaw), np.deg2rad(roll), 80.0 + k, 75.0 - k, 0.0, SCALE])
            iv = _face3d_image_vertices(bfm, pose, shape_para, exp_para)
            pt2d = iv[kpt, :2].T  # (2, 68)
            Image.fromarray(_draw(iv, tri)).save(root / subset / f"{name}.jpg", quality=95)
            scipy.io.savemat(str(root / subset / f"{name}.mat"), {
                "Pose_Para": pose[None, :], "Shape_Para": shape_para, "Exp_Para": exp_para, "pt2d": pt2d,
                "roi": np.array([[0, 0, W, H]], float), "illum_para": np.zeros((1, 10)),
            })
            if not subset.endswith("_Flip"):
                (root / "landmarks" / subset).mkdir(parents=True, exist_ok=True)
                scipy.io.savemat(str(root / "landmarks" / subset / f"{name}_pts.mat"),
                                 {"pts_2d": pt2d.T, "pts_3d": pt2d.T})
            truth[f"{subset}/{name}"] = {"yaw": yaw, "pitch": pitch, "roll": roll, "pt2d": pt2d.T}
    # an image without its .mat and one with a corrupt .mat
    (root / "LFPW").mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "LFPW" / "LFPW_image_test_0001_0.jpg")
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "LFPW" / "LFPW_image_test_0002_0.jpg")
    (root / "LFPW" / "LFPW_image_test_0002_0.mat").write_bytes(b"MATLAB 5.0 MAT-file, this is not one")
    return root, f"bfm:{mat_path},uv={uv_path}", truth


@pytest.fixture(scope="module")
def model(tree):
    from frontside.facemodel import load_model

    return load_model(tree[1])


# ------------------------------------------------------------------------------------------------ tests

def test_scan_finds_layout_groups_and_problems(tree, model):
    from frontside.sources.w300lp import scan_300wlp, skipped_counts

    root, _, truth = tree
    items = scan_300wlp(root, model=model)
    keys = {it.key for it in items}
    assert keys == set(truth) | {"LFPW/LFPW_image_test_0001_0", "LFPW/LFPW_image_test_0002_0"}
    assert skipped_counts(items) == {"no_mat": 1, "broken_mat": 1, "model_mismatch": 0}
    assert {it.key: it.problem for it in items if it.problem} == {"LFPW/LFPW_image_test_0001_0": "no_mat",
                                                                  "LFPW/LFPW_image_test_0002_0": "broken_mat"}
    by_key = {it.key: it for it in items}
    a0, f0 = by_key["AFW/AFW_100_1_0"], by_key["AFW_Flip/AFW_100_1_0"]
    assert a0.group == "AFW/AFW_100_1" and f0.group == "AFW_Flip/AFW_100_1" and f0.flipped
    assert a0.landmarks_path is not None and a0.landmarks_path.name == "AFW_100_1_0_pts.mat"
    # 300W-LP's +yaw turns the nose to the viewer's left: our -yaw
    for key, t in truth.items():
        assert by_key[key].yaw == pytest.approx(-t["yaw"], abs=1e-9), key


def test_posed_view_landmarks_land_on_pt2d(tree, model):
    from frontside.sources.w300lp import item_for, posed_view, read_landmark_file

    root, _, truth = tree
    worst = 0.0
    for key, t in truth.items():
        subset, name = key.split("/")
        view = posed_view(item_for(root, subset, name), model)
        assert view.renderer == "300wlp" and view.image.shape == (H, W, 4)
        assert (view.alpha == 255).all()
        # pt2d uses integer pixel centres; our frame puts them at +0.5
        err = np.abs(view.vertices[model.landmarks, :2] - 0.5 - t["pt2d"]).max()
        worst = max(worst, float(err))
        # the drawn silhouette lies under the projected landmarks (image and vertices share a frame)
        xy = np.floor(view.vertices[model.landmarks, :2]).astype(int)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
        assert view.image[xy[inside, 1], xy[inside, 0], 0].mean() > 150, key
        # nearer is larger: the bulge's apex faces the camera in a frontal view
        if abs(t["yaw"]) < 15:
            grid = view.vertices[:, 2].reshape(24, 24)
            border = np.concatenate([grid[0], grid[-1], grid[:, 0], grid[:, -1]])
            assert grid[8:16, 8:16].mean() > border.mean() + 10, key
        if not subset.endswith("_Flip"):
            pts_2d, _ = read_landmark_file(item_for(root, subset, name).landmarks_path)
            np.testing.assert_allclose(pts_2d, t["pt2d"], atol=1e-4)
    assert worst < 0.01


def test_pose_matches_the_3ddfa_rotation(tree, model):
    from frontside.geometry.transforms import rotation_matrix
    from frontside.sources.w300lp import item_for, posed_view

    root, _, truth = tree
    view = posed_view(item_for(root, "AFW", "AFW_100_1_2"), model)
    t = truth["AFW/AFW_100_1_2"]
    ours = rotation_matrix(view.pose.yaw, view.pose.pitch, view.pose.roll)
    theirs = _angle2matrix_3ddfa(*np.deg2rad([t["pitch"], t["yaw"], t["roll"]]))
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert view.pose.yaw < -45  # a right-turned 300W-LP side view (+60) is our left side


def test_pairing_rules(tree, model):
    from frontside.sources.w300lp import pair_items, scan_300wlp

    items = scan_300wlp(tree[0], model=model)
    pairs = pair_items(items, np.random.default_rng(5))
    # fronts in groups that have a side: AFW 2 + HELEN 1 + AFW_Flip 2 (IBUG has no side, LFPW no fits)
    assert len(pairs) == 5
    for front, side in pairs:
        assert abs(front.yaw) <= 45 and 45 < abs(side.yaw) <= 100
        assert front.group == side.group and front.flipped == side.flipped
    assert {f.key for f, _ in pairs} == {"AFW/AFW_100_1_0", "AFW/AFW_100_1_1", "HELEN/HELEN_200_1_0",
                                         "AFW_Flip/AFW_100_1_0", "AFW_Flip/AFW_100_1_1"}
    again = pair_items(list(reversed(items)), np.random.default_rng(5))
    assert [(f.key, s.key) for f, s in pairs] == [(f.key, s.key) for f, s in again]


def test_make_pair_crops_and_posmap(tree, model):
    from frontside.sources.w300lp import item_for, make_300wlp_pair

    root = tree[0]
    front, side = item_for(root, "AFW", "AFW_100_1_0"), item_for(root, "AFW", "AFW_100_1_2")
    pair = make_300wlp_pair(front, side, model, np.random.default_rng(1), face_index=3, seed=9)
    again = make_300wlp_pair(front, side, model, np.random.default_rng(1), face_index=3, seed=9)
    assert pair.front.shape == pair.side.shape == (256, 256, 3) and pair.front.dtype == np.uint8
    assert pair.posmap.shape == (256, 256, 3) and pair.mask.shape == (256, 256) and pair.mask.sum() > 1000
    np.testing.assert_array_equal(pair.front, again.front)
    np.testing.assert_array_equal(pair.posmap, again.posmap)
    m = pair.meta
    assert (m.source, m.renderer, m.model, m.face_index, m.seed) == ("300wlp", "300wlp", "BFM", 3, 9)
    assert [v.kind for v in pair.views] == ["front", "left"]
    assert abs(pair.views[0].yaw) <= 45 and pair.views[1].yaw < -45
    # the front fit's coefficients in the model's standard deviations: they give the fit's mesh
    from frontside.sources.w300lp import fit_vertices, read_fit

    fit = read_fit(front.mat_path, model)
    np.testing.assert_allclose(model.vertices(pair.coefficients), fit_vertices(fit, model), rtol=1e-4, atol=1e-3)
    assert pair.coefficients.identity.shape == (model.n_identity,) and pair.coefficients.identity.dtype == np.float32
    # the crop moved image and mesh together: the silhouette is under the cropped landmarks
    xy = np.floor(pair.landmarks[:, :2]).astype(int)
    assert ((xy >= 0) & (xy < 256)).all()
    assert pair.front[xy[:, 1], xy[:, 0], 0].mean() > 150
    assert pair.posmap[pair.mask][:, 2].min() >= -1e-3


def test_read_fit_errors_name_file_and_field(tmp_path, tree, model):
    from frontside.sources.w300lp import item_for, posed_view, read_fit

    bad = tmp_path / "bad.mat"
    scipy.io.savemat(str(bad), {"Pose_Para": np.zeros((1, 7)), "Shape_Para": np.zeros((N_ID, 1))})
    with pytest.raises(InputFormatError, match=r"bad\.mat: Pose_Para: scale"):
        read_fit(bad, model)
    scipy.io.savemat(str(bad), {"Pose_Para": np.ones((1, 7)), "Shape_Para": np.zeros((N_ID, 1))})
    with pytest.raises(InputFormatError, match=r"bad\.mat: Exp_Para: missing"):
        read_fit(bad, model)
    scipy.io.savemat(str(bad), {"Pose_Para": np.ones((1, 7)), "Shape_Para": np.zeros((199, 1)),
                                "Exp_Para": np.zeros((N_EXP, 1))})
    with pytest.raises(InputFormatError, match=r"Shape_Para: has shape \(199, 1\), expected 5 values"):
        read_fit(bad, model)
    scipy.io.savemat(str(bad), {"Pose_Para": np.ones((1, 7)), "Shape_Para": np.full((N_ID, 1), 1e39),
                                "Exp_Para": np.zeros((N_EXP, 1))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way
        with pytest.raises(InputFormatError, match=r"bad\.mat: Shape_Para: 5 of 5 values lie beyond float32's"):
            read_fit(bad, model)
    with pytest.raises(InputFormatError, match=r"LFPW_image_test_0002_0\.mat: file: not a readable"):
        posed_view(item_for(tree[0], "LFPW", "LFPW_image_test_0002_0"), model)
    with pytest.raises(InputFormatError, match=r"LFPW_image_test_0001_0\.mat: file: does not exist"):
        posed_view(item_for(tree[0], "LFPW", "LFPW_image_test_0001_0"), model)
    with pytest.raises(InputFormatError, match="no 300W-LP subset folder"):
        from frontside.sources.w300lp import scan_300wlp

        scan_300wlp(tmp_path)


@pytest.mark.slow
def test_flow_writes_shards_and_resumes(tree, tmp_path, prefect_harness):
    from frontside.orchestration.flows.convert_300wlp import convert_300wlp
    from frontside.sources.w300lp_source import ConvertConfig
    from frontside.store.shards import decode_row, read_shard

    root, spec, _ = tree
    out = tmp_path / "ds"
    manifest_path = Path(convert_300wlp(ConvertConfig(root=str(root), out=str(out), shard_size=2, seed=4, model_spec=spec)))
    manifest = json.loads(manifest_path.read_text())
    text = json.dumps(manifest)
    assert '"no_mat": 1' in text and '"broken_mat": 1' in text
    shards = sorted(out.glob("shard-*.parquet"))
    assert [s.name for s in shards] == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    rows = 0
    for s in shards:
        table = read_shard(str(s))
        for i in range(table.num_rows):
            pair = decode_row(table, i)
            assert pair.meta.source == "300wlp" and pair.meta.renderer == "300wlp"
            assert table.schema.metadata[b"frontside.format"] == b"3" and len(pair.views) == 2
            assert abs(pair.views[0].yaw) <= 45 and 45 < abs(pair.views[1].yaw) <= 100
            assert pair.front.shape == (256, 256, 3) and pair.mask.any() and pair.coefficients is not None
        rows += table.num_rows
    assert rows == 5
    before = {s.name: s.stat().st_mtime_ns for s in shards}
    convert_300wlp(ConvertConfig(root=str(root), out=str(out), shard_size=2, seed=4, model_spec=spec))
    assert {s.name: s.stat().st_mtime_ns for s in sorted(out.glob("shard-*.parquet"))} == before
    # every skipped image is named with its reason, and the model is recorded once, by spec and content
    skipped = {e["file"]: e for e in manifest["extra"]["skipped_files"]}
    assert set(skipped) == {"LFPW/LFPW_image_test_0001_0.jpg", "LFPW/LFPW_image_test_0002_0.jpg"}
    assert skipped["LFPW/LFPW_image_test_0002_0.jpg"]["reason"] == "broken_mat"
    assert "not a readable MATLAB" in skipped["LFPW/LFPW_image_test_0002_0.jpg"]["detail"]
    assert manifest["inputs"]["model"]["spec"] == spec and len(manifest["inputs"]["model"]["sha256"]) == 64
    # evaluation reads exactly that model (fb447a8 tried to load "300wlp", failed silently, used the built-in)
    from frontside.facemodel import load_model
    from frontside.store.dataset import dataset_model

    assert dataset_model(str(out)).n_vertices == load_model(spec).n_vertices == 24 * 24


def test_fits_made_for_another_model_are_one_error_before_anything_is_written(tree, tmp_path):
    from dataclasses import replace

    from frontside.facemodel.bfm import save_bfm
    from frontside.sources.w300lp_source import W300LPSource
    from frontside.store.driver import check_dataset

    model = grid_model()
    fewer = replace(model, id_basis=model.id_basis[:, :2], id_std=model.id_std[:2])
    save_bfm(fewer, tmp_path / "small.mat", tmp_path / "small_uv.mat")
    out = tmp_path / "never"
    with pytest.raises(InputFormatError, match=r"small\.mat: components: the \d+ readable fits have 5 shape / 3 "
                                               r"expression coefficients .* the model has 2 / 3"):
        check_dataset(W300LPSource(root=str(tree[0]),
                                   model_spec=f"bfm:{tmp_path / 'small.mat'},uv={tmp_path / 'small_uv.mat'}"), str(out))
    assert not out.exists()


@pytest.mark.slow
def test_cli_reports_bad_root(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, "-m", "frontside.cli", "convert-300wlp", "--root", str(tmp_path),
         "--model", "builtin", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 1
    assert "no 300W-LP subset folder" in proc.stderr
