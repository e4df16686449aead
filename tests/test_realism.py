"""Renders closer to photographs (`generate --realism`, issue 22 item 3): each option changes what it says and
nothing else, every draw is in the row and survives a shard, same seed gives the same bytes, and "none" is the
renderer of before."""

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from frontside.errors import ParameterError
from frontside.geometry.transforms import project
from frontside.renderers.backgrounds import Backgrounds
from frontside.renderers.raster_renderer import RasterRenderer
from frontside.store.records import Part
from frontside.synthesis.config import GenerateParams, check_parameters, parse_realism
from frontside.synthesis.pairs import ModelSource, make_face


def _face(model, realism="none", seed=5, index=3, views=3):
    from frontside.synthesis.generate import extra_views_rng, face_rng

    return make_face(ModelSource(model), RasterRenderer(), Backgrounds.from_folder(None), face_rng(seed, index),
                     face_id="f", face_index=index, seed=seed, views=views,
                     views_rng=extra_views_rng(seed, index), realism=realism)


@pytest.fixture(scope="module")
def faces(builtin_model):
    return {name: _face(builtin_model, name) for name in ("none", "skin", "eyes", "occluders", "camera", "all")}


def test_options_are_spelled_one_way_and_bad_ones_name_the_field():
    assert parse_realism("realism", "camera, skin") == "skin,camera"
    assert parse_realism("realism", "all") == "skin,eyes,occluders,camera"
    assert parse_realism("realism", "") == parse_realism("realism", "none") == "none"
    with pytest.raises(ParameterError, match="realism.*'hats'"):
        check_parameters(GenerateParams(n_faces=1, realism="skin,hats"))


def test_none_draws_nothing_and_each_option_changes_only_its_pixels(faces):
    plain = faces["none"]
    assert plain.realism is None
    for name in ("skin", "eyes", "occluders"):  # pixels only: pose, crop, labels' geometry and posmap stay
        face = faces[name]
        assert face.realism["options"] == [name]
        np.testing.assert_array_equal(face.posmap, plain.posmap)
        for view, before, record in zip(face.views, plain.views, face.realism["views"], strict=True):
            np.testing.assert_array_equal(view.labels.landmarks, before.labels.landmarks)
            assert view.yaw == before.yaw
            changed = np.abs(view.image.astype(int) - before.image).max(axis=2) > 0
            assert changed.any() == (name != "occluders" or any(o["pixels"] for o in record["occluders"]))
            if name == "eyes":  # inside the eyes and brows (and the lashes' lines round the eyes)
                parts = before.labels.segmentation
                lm = before.labels.landmarks[17:48, :2]
                lo, hi = lm.min(0) - 0.2 * np.ptp(lm[:, 0]), lm.max(0) + 0.2 * np.ptp(lm[:, 0])
                rows, cols = np.mgrid[0:256, 0:256] + 0.5
                near = (cols > lo[0]) & (cols < hi[0]) & (rows > lo[1]) & (rows < hi[1])
                assert changed[np.isin(parts, [Part.EYES, Part.BROWS])].mean() > 0.5 and not changed[~near].any()
            if name == "skin":  # the face's albedo: nothing off the face moves (its anti-aliased rim may)
                rim = binary_dilation(before.labels.segmentation != Part.BACKGROUND, iterations=1)
                assert not changed[~rim].any()
    assert len(faces["skin"].realism["skin"]) == 5 and "views" in faces["eyes"].realism


def test_occluders_are_in_the_segmentation_and_the_record(builtin_model):
    drawn = set()
    for index in range(12):
        face = _face(builtin_model, "occluders", index=index, views=2)
        plain = _face(builtin_model, "none", index=index, views=2)
        for view, before, record in zip(face.views, plain.views, face.realism["views"], strict=True):
            covered = view.labels.segmentation == Part.OCCLUDER
            kinds = {o["kind"] for o in record["occluders"] if o["pixels"]}
            drawn |= kinds
            assert covered.any() == bool(kinds) and covered.sum() <= sum(o["pixels"] for o in record["occluders"])
            # a covered pixel shows the occluder, not the face of before
            if covered.any():
                assert (np.abs(view.image.astype(int) - before.image)[covered].max(axis=1) > 0).mean() > 0.9
            assert not (view.labels.segmentation != before.labels.segmentation)[~covered].any()
    assert {"hair", "glasses"} <= drawn


def test_camera_draws_a_lens_the_recorded_camera_reproduces(builtin_model, faces):
    face, plain = faces["camera"], faces["none"]
    mesh = ModelSource(builtin_model).draw(np.random.default_rng(np.random.SeedSequence([5, 3])), "f")[0]
    fovs = [v["camera"]["fov_deg"] for v in face.realism["views"]]
    assert all(7 <= f <= 28 for f in fovs) and len(set(fovs)) == 3
    for view in face.views:  # the recorded camera maps the face's world landmarks onto the recorded ones
        xy = project(mesh.vertices[mesh.landmarks], view.labels.camera.world_to_vcs)[:, :2]
        np.testing.assert_allclose(xy, view.labels.landmarks[:, :2], atol=2e-3)
    # a lens other than the default's (12 degrees): the perspective, so the landmarks in the crop, differ
    k = int(np.argmax(np.abs(np.log(np.array(fovs) / 12.0))))
    assert np.abs(face.views[k].labels.landmarks - plain.views[k].labels.landmarks)[:, :2].max() > 0.3, fovs
    # white balance and noise on every view: the pixels differ everywhere, not only on the face
    background = plain.views[0].labels.segmentation == Part.BACKGROUND
    assert (face.views[0].image != plain.views[0].image).any(axis=2)[background].mean() > 0.5


def test_same_seed_same_bytes_and_options_draw_apart(builtin_model, faces):
    again = _face(builtin_model, "all")
    for a, b in zip(faces["all"].views, again.views, strict=True):
        assert a.image.tobytes() == b.image.tobytes()
    assert faces["all"].realism == again.realism
    # turning on other options leaves an option's own draws as they were
    assert faces["all"].realism["skin"] == faces["skin"].realism["skin"]
    assert [v["eyes"] for v in faces["all"].realism["views"]] == [v["eyes"] for v in faces["eyes"].realism["views"]]


def test_the_record_survives_a_shard_and_plain_shards_keep_their_columns(tmp_path, faces):
    from frontside.store.shards import decode_row, read_shard, write_shard

    write_shard(str(tmp_path / "a.parquet"), [faces["all"], faces["none"]])
    table = read_shard(str(tmp_path / "a.parquet"))
    assert decode_row(table, 0).realism == faces["all"].realism and decode_row(table, 1).realism is None
    back = decode_row(table, 0)
    assert Part.OCCLUDER in {int(p) for v in back.views for p in np.unique(v.labels.segmentation)} or not any(
        v["occluders"] for v in faces["all"].realism["views"])
    write_shard(str(tmp_path / "b.parquet"), [faces["none"]])
    assert "realism" not in read_shard(str(tmp_path / "b.parquet")).column_names


def test_a_dataset_without_realism_keeps_its_identity():
    from frontside.synthesis.generate import GenerateSource

    assert "realism" not in GenerateSource(GenerateParams(n_faces=2)).parameter_identity()
    assert GenerateSource(GenerateParams(n_faces=2, realism="eyes,skin")).parameter_identity()["realism"] == \
        "skin,eyes"


@pytest.mark.parametrize("command", ["generate", "preview"])
def test_a_bad_option_is_one_line_naming_the_flag_and_writes_nothing(tmp_path, command):
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / ("d" if command == "generate" else "p.png")
    args = ["--faces", "1"] if command == "generate" else ["--n", "1"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run([sys.executable, "-m", "frontside.cli", command, *args, "--out", str(out), "--realism",
                          "skin,glitter"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2 and run.stderr.startswith(f"frontside {command}: error: --realism: ")
    assert "'glitter'" in run.stderr and len(run.stderr.splitlines()) == 1 and not out.exists()
