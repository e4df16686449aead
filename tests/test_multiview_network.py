"""The multi-view network (issue 21): the landmark fit that joins the views, the network's 1..N views and absent
views, its training through `Trainer` on format-3 data, and the view diagnostics every report prints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from frontside.learning.networks import landmark_fit
from frontside.learning.networks.registry import build, default_basis


def _pose(yaw: float, log_scale: float = 0.49, rho: float = 0.1) -> torch.Tensor:
    r = torch.tensor([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]],
                     dtype=torch.float32)
    return torch.cat([r[:, 0], r[:, 1], torch.tensor([log_scale, 0.02, -0.03, rho])])


@pytest.fixture(scope="module")
def landmarks():
    lmk = landmark_fit.landmark_basis(default_basis())
    return torch.from_numpy(lmk.mean), torch.from_numpy(lmk.components), torch.from_numpy(lmk.prior_std ** 2)


def test_the_fit_finds_the_face_from_exact_landmarks_and_a_profile_adds_what_a_front_cannot(landmarks):
    mean, components, prior_var = landmarks
    torch.manual_seed(0)
    faces = 6
    true = torch.randn(faces, len(components)) * prior_var.sqrt()
    poses = torch.stack([_pose(0.05), _pose(1.2)] * faces)  # a front and a profile of each face
    owner = torch.arange(faces).repeat_interleave(2)
    xy = landmark_fit.project(mean, components, poses, true[owner], 256)
    errors = {}
    for name, keep in (("front", owner * 0 + torch.arange(2 * faces) % 2 == 0), ("both", torch.ones(2 * faces) > 0)):
        coef, delta = landmark_fit.fit(mean, components, prior_var, xy[keep], torch.ones(int(keep.sum()), 68),
                                       poses[keep], owner[keep], faces, torch.tensor(0.5), 256, iterations=3)
        errors[name] = float((coef - true).abs().mean())
        assert coef.shape == (faces, len(components)) and delta.shape == (int(keep.sum()), 6)
    # from a front and a profile the face is found; from a front alone depth stays at the prior's guess
    assert errors["both"] < 0.15 and errors["front"] > 3 * errors["both"], errors
    # the fit is differentiable in the landmarks (the network learns through it)
    xy_leaf = xy.clone().requires_grad_(True)
    coef, _ = landmark_fit.fit(mean, components, prior_var, xy_leaf, torch.ones(2 * faces, 68), poses, owner, faces,
                               torch.tensor(1.0), 256)
    coef.sum().backward()
    assert torch.isfinite(xy_leaf.grad).all() and float(xy_leaf.grad.abs().sum()) > 0


def test_a_view_pose_is_recovered_from_its_landmarks(landmarks):
    mean, components, _ = landmarks
    for yaw in (0.1, -1.1):
        pose = _pose(yaw, 0.45, 0.12)
        points = mean.numpy()
        xy = landmark_fit.project(mean, components, pose[None], torch.zeros(1, len(components)), 256)[0].numpy()
        rotated = points @ np.stack([pose[:3].numpy(), pose[3:6].numpy(),
                                     np.cross(pose[:3].numpy(), pose[3:6].numpy())], 1).T
        depth = 256 * math.exp(0.45) * rotated[:, 2] + 7.0  # depth in pixels, up to a shift
        fitted, rms = landmark_fit.fit_pose_to_points(points, np.column_stack([xy, depth]), 256)
        assert rms < 0.05 and np.abs(fitted - pose.numpy()).max() < 1e-3, (fitted, pose)


def test_one_network_takes_one_to_n_views_and_an_absent_view_changes_nothing():
    torch.manual_seed(0)
    network = build("multiview").eval()
    size = network.size
    photos = torch.rand(2, 9, 64, 64)
    with torch.no_grad():
        for views in (1, 2, 3):
            out = network(photos[:, :3 * views])
            assert out.shape == (2, 3, size, size) and torch.isfinite(out).all()
        present = torch.tensor([[True, True, False]] * 2)
        first = network(photos, present=present, details=True)
        changed = photos.clone()
        changed[:, 6:] = torch.rand(2, 3, 64, 64)  # another third photo, absent
        second = network(changed, present=present, details=True)
        assert torch.equal(first[0], second[0])
        assert torch.equal(first[1]["coefficients"], second[1]["coefficients"])
        third = network(changed)  # present, it counts
        assert not torch.equal(first[0], third)
        assert first[1]["landmarks"].shape == (2, 3, 68, 2) and first[1]["pose"].shape == (2, 3, 10)
        assert float(first[1]["landmarks"][:, 2].abs().sum()) == 0  # absent views answer nothing



def test_mirrored_landmarks_pair_each_landmark_of_the_mean_face_with_its_mirror_image():
    from frontside.facemodel import load_model
    from frontside.facemodel.model import MIRRORED_LANDMARKS

    model = load_model("builtin")
    points = model.mean[model.landmarks]
    assert np.array_equal(MIRRORED_LANDMARKS[MIRRORED_LANDMARKS], np.arange(68))
    mirrored = points[MIRRORED_LANDMARKS] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - points).max() < 1e-3 * np.ptp(points, axis=0).max()
    shifted = points[np.roll(MIRRORED_LANDMARKS, 1)] * np.array([-1.0, 1.0, 1.0])  # a wrong pairing is seen
    assert np.abs(shifted - points).max() > 0.01 * np.ptp(points, axis=0).max()


def test_the_flip_test_reads_a_mirrored_photo_as_the_mirror_of_the_photo_and_only_in_eval_mode():
    from frontside.facemodel.model import MIRRORED_LANDMARKS

    torch.manual_seed(0)
    network = build("multiview").eval()
    photos = torch.rand(2, 6, 64, 64)
    mirror = photos.flip(-1)

    def landmarks(x):
        with torch.no_grad():
            return network(x, details=True)[1]["landmarks"]

    def mirrored(xy):
        xy = xy[:, :, MIRRORED_LANDMARKS]
        return torch.stack([network.size - xy[..., 0], xy[..., 1]], -1)

    plain, plain_mirror = landmarks(photos), landmarks(mirror)
    assert (mirrored(plain_mirror) - plain).abs().max() > 0.1  # an untrained network is no mirror of itself
    network.flip_test = True
    both, both_mirror = landmarks(photos), landmarks(mirror)
    torch.testing.assert_close(mirrored(both_mirror), both, atol=1e-3, rtol=0)
    torch.testing.assert_close(both, 0.5 * (plain + mirrored(plain_mirror)), atol=1e-3, rtol=0)
    network.train()  # training reads each photo once, whatever the switch says
    torch.manual_seed(1)
    trained_mode = network(photos, details=True)[1]["landmarks"]
    network.flip_test = False
    torch.manual_seed(1)
    assert torch.equal(network(photos, details=True)[1]["landmarks"], trained_mode)


def test_under_bf16_the_encoder_runs_in_bf16_and_the_fit_and_the_face_in_float32():
    # the convolutions are where bf16 pays (a 128-px step 0.27 s instead of 0.36 s on an AVX512-BF16 CPU); the
    # landmarks' expectation, the fit and the posmap stay float32 (bf16 resolves ~1 pixel)
    from frontside.learning.precision import autocast

    torch.manual_seed(0)
    network = build("multiview", input_size=64).eval()
    photos = torch.rand(2, 9, 64, 64)
    seen = {}
    hook = network.encoder[-1].register_forward_hook(lambda m, i, out: seen.__setitem__("encoder", out.dtype))
    with torch.no_grad():
        exact, exact_details = network(photos, details=True)
        with autocast(torch.device("cpu"), "bf16"):
            posmap, details = network(photos, details=True)
    hook.remove()
    assert seen["encoder"] == torch.bfloat16
    assert posmap.dtype == torch.float32
    assert all(details[k].dtype == torch.float32 for k in ("coefficients", "fitted", "pose", "landmarks"))
    assert not torch.equal(details["landmarks"], exact_details["landmarks"])  # the encoder did run in bf16
    # ... and the face comes out where float32 puts it, to a small fraction of a pixel of the posmap's frame
    assert float((posmap - exact).abs().max()) < 2e-3, float((posmap - exact).abs().max())


def test_the_loss_asks_for_every_coefficient_in_standard_deviations_where_a_row_has_them():
    """`coefficients_sd`: the coefficients' mean squared error in the model's standard deviations, weighted, on the
    rows that carry coefficients; a row without (NaN) adds nothing."""
    import dataclasses

    from frontside.learning.loss import weight_mask_from_regions
    from frontside.learning.multiview_loss import MultiViewLoss, MultiViewWeights
    from frontside.learning.networks.structured import TRAIN_STRIDE

    torch.manual_seed(0)
    network = build("multiview", input_size=64)
    basis = network.basis
    photos, present = torch.rand(3, 6, 64, 64), torch.ones(3, 2, dtype=torch.bool)
    outputs = network(photos, coarse=True, present=present, details=True)
    side = outputs[0].shape[-1]
    truth = torch.randn(3, basis.n_components)
    truth[2] = float("nan")  # a 300W-LP row: no coefficients
    targets = {"target": torch.rand(3, 3, side, side), "landmarks": torch.rand(3, 2, 68, 2) * basis.size,
               "visible": torch.ones(3, 2, 68, dtype=torch.bool), "pose": torch.full((3, 2, 10), float("nan")),
               "coefficients": truth}
    mask = weight_mask_from_regions(basis.regions)
    weights = MultiViewWeights()
    assert weights.coefficients_sd > 0  # on by default
    with_sd = MultiViewLoss(basis, mask, 100.0, TRAIN_STRIDE, weights)
    without = MultiViewLoss(basis, mask, 100.0, TRAIN_STRIDE, dataclasses.replace(weights, coefficients_sd=0.0))
    with torch.no_grad():
        total, plain = with_sd(outputs, targets), without(outputs, targets)
        expected = ((outputs[1]["coefficients"][:2] - truth[:2]) ** 2).mean()
    assert with_sd.terms["coefficients_sd"] == pytest.approx(float(expected), rel=1e-5)
    assert float(total - plain) == pytest.approx(weights.coefficients_sd * float(expected), rel=1e-4)


def test_weak_directions_name_the_components_no_photo_can_tell_apart(builtin_model):
    """The combinations of components that points show least beyond a similarity: a twin pair and a uniform scale
    are found at rms 0; in the built-in model, brow height and brow raise are one deformation (each one's R² held
    at 1 - weight^2), and head depth with face width and face height is a uniform scale to a twentieth of a
    millimetre on the landmarks (README "Learning")."""
    import dataclasses

    from frontside.evaluation.diagnostics import weak_directions

    brows = weak_directions(builtin_model, "landmarks", 1)[0]
    assert brows.rms < 1e-6 and sorted(name for name, _ in brows.largest(2)) == ["brow height", "brow raise"]
    assert brows.r2_ceiling() == pytest.approx(1 - brows.weights ** 2) and brows.r2_ceiling().min() < 0.5
    n = builtin_model.n_vertices
    twin = builtin_model.id_basis.copy()
    twin[:, 1] = twin[:, 0] * builtin_model.id_std[0] / builtin_model.id_std[1]  # component 1 moves as component 0
    twin[:, 2:3] = (builtin_model.mean - builtin_model.mean.mean(0)).reshape(3 * n, 1) / 100 / builtin_model.id_std[2]
    found = weak_directions(dataclasses.replace(builtin_model, id_basis=twin), "landmarks", 4)
    assert max(d.rms for d in found[:3]) < 1e-6 < 1e-3 < found[3].rms  # the brows, the twins, the scale
    span = np.stack([d.weights for d in found[:3]])
    for made in (np.eye(len(brows.weights))[0] - np.eye(len(brows.weights))[1], np.eye(len(brows.weights))[2]):
        made = made / np.linalg.norm(made)
        assert np.linalg.norm(span @ made) == pytest.approx(1.0, abs=1e-6)  # in the span of the three
    names = [name for name, _ in weak_directions(builtin_model, "landmarks", 2)[1].largest(3)]
    assert sorted(names) == ["face height", "face width", "head depth"]
    face = weak_directions(builtin_model, "face", 3)
    assert [d.rms for d in face] == sorted(d.rms for d in face)
    with pytest.raises(ValueError, match="points"):
        weak_directions(builtin_model, "ears")


def test_the_landmarks_ceiling_of_r2_sees_what_landmarks_cannot_tell_apart(builtin_model):
    """The Bayes ceiling of each component's R² from 68 noisy 3D landmarks: near 1 for a component the landmarks
    show, falling with the noise; a component that is a similarity (what every NME aligns away) has none; two
    identical components share what the landmarks say of them."""
    import dataclasses

    from frontside.evaluation.diagnostics import landmark_r2_ceiling

    identity, expression = builtin_model.component_names()
    names = list(identity) + list(expression)
    fine, coarse = landmark_r2_ceiling(builtin_model, 0.002), landmark_r2_ceiling(builtin_model, 0.02)
    assert fine.shape == (len(names),) and (coarse < fine).all() and (coarse > 0).all()
    assert fine[names.index("nose length")] > 0.95
    # head depth: a z-stretch the face's landmarks mostly read as another camera and face width / height
    assert coarse[names.index("head depth")] < coarse[names.index("nose length")]
    n = builtin_model.n_vertices
    scale = (builtin_model.mean - builtin_model.mean.mean(0)).reshape(3 * n, 1) / np.float32(100.0)
    twin = builtin_model.id_basis.copy()
    twin[:, 1] = twin[:, 0] * builtin_model.id_std[0] / builtin_model.id_std[1]  # component 1 moves as component 0
    twin[:, 2:3] = scale / builtin_model.id_std[2]  # component 2: a uniform scale about the centroid
    ceiling = landmark_r2_ceiling(dataclasses.replace(builtin_model, id_basis=twin), 0.002)
    assert ceiling[0] == pytest.approx(ceiling[1]) and ceiling[0] < 0.51
    assert ceiling[2] < 1e-6
    with pytest.raises(ValueError, match="noise"):
        landmark_r2_ceiling(builtin_model, 0.0)
    # the report's table gives it beside the R²s; a report's numbers from before it had none still print
    from frontside.evaluation.diagnostics import markdown

    r2 = {"names": ["head depth (identity-17)"], "effect": [4.0], "r2": {"front": [0.1]}}
    def rows(diagnostics: dict) -> list[str]:
        return [line for line in "\n".join(markdown("net", diagnostics)).splitlines() if line.startswith("| head")]

    old = rows({"faces": 3, "component_r2": r2})
    new = rows({"faces": 3, "component_r2": {**r2, "landmark_ceiling": [0.63]}})
    assert old == ["| head depth (identity-17) | 4.00 | 0.10 |"]
    assert "landmarks' ceiling" not in "\n".join(markdown("net", {"faces": 3, "component_r2": r2}))
    assert new == ["| head depth (identity-17) | 4.00 | 0.10 | 0.63 |"]


def test_an_r2_from_few_faces_comes_with_its_bootstrap_interval():
    """Each R² has a 90% interval over resamplings of the faces: it holds the R² itself, narrows as faces are added,
    is the same for the same faces, and the report's table prints it in brackets."""
    from frontside.evaluation.diagnostics import ComponentR2, component_r2, component_r2_interval, markdown

    rng = np.random.default_rng(3)
    true = rng.standard_normal((480, 2))
    predicted = true * np.array([0.7, 0.0]) + rng.standard_normal((480, 2)) * np.array([0.5, 1.0])
    few, many = component_r2_interval(predicted[:48], true[:48]), component_r2_interval(predicted, true)
    assert few.shape == many.shape == (2, 2)
    assert (few[0] <= component_r2(predicted[:48], true[:48])).all()
    assert (component_r2(predicted[:48], true[:48]) <= few[1]).all()
    assert ((many[1] - many[0]) < 0.6 * (few[1] - few[0])).all()  # ten times the faces: about a third as wide
    assert many[0][0] > 0.3 and many[1][1] < 0  # a read component and an unread one, told apart on 480 faces
    assert np.array_equal(few, component_r2_interval(predicted[:48], true[:48]))
    table = ComponentR2(["a", "b"], [1.0, 1.0], {"two": component_r2(predicted, true).tolist()},
                        interval={"two": many.tolist()}).as_dict()
    lines = "\n".join(markdown("net", {"faces": 480, "component_r2": table})).splitlines()
    assert f"| a | 1.00 | {component_r2(predicted, true)[0]:.2f} [{many[0][0]:.2f}, {many[1][0]:.2f}] |" in lines
    assert any("90% interval" in line for line in lines)
    with pytest.raises(ValueError, match="level"):
        component_r2_interval(predicted, true, level=1.0)


def test_the_learning_benchmark_summarises_r2_over_seeds_with_each_seeds_interval(monkeypatch):
    """`benchmarks/learning.py`'s summary: each component's R² averaged over seeds, its spread over them, and every
    seed's bootstrap interval; a run whose reports have no intervals (older ones) is summarised without."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from learning import view_summary

    def run(seed, r2, interval=None):
        views = {"component_r2": {"names": ["a", "b"], "r2": {"two": r2}}}
        if interval is not None:
            views["component_r2"]["r2_interval"] = {"two": interval}
        return {"run": "net", "seed": seed, "views": views}

    runs = [run(0, [0.5, 0.1], [[0.4, 0.0], [0.6, 0.2]]), run(1, [0.7, 0.3], [[0.6, 0.1], [0.8, 0.5]])]
    summary = view_summary(runs, ["net"])["component_r2"]["net"]
    assert summary["r2"]["two"] == pytest.approx([0.6, 0.2])
    assert summary["r2_seeds"]["two"][0]["min"] == 0.5 and summary["r2_seeds"]["two"][0]["max"] == 0.7
    assert summary["r2_seeds"]["two"][1]["sd"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert summary["r2_interval"]["two"] == [[[0.4, 0.6], [0.6, 0.8]], [[0.0, 0.2], [0.1, 0.5]]]
    older = view_summary([run(0, [0.5, 0.1]), run(1, [0.7, 0.3])], ["net"])["component_r2"]["net"]
    assert "r2_interval" not in older and older["r2"]["two"] == pytest.approx([0.6, 0.2])


def test_fit_stages_tell_the_landmarks_from_the_fit(tmp_path_factory):
    """The fit given the true landmarks and poses finds the faces; the same untrained network's own landmarks do
    not: the diagnostic that names the stage holding a multi-view network's R² back."""
    from conftest import synthetic_dataset

    from tools.diagnostics import FIT_STAGES, fit_stages

    data = synthetic_dataset(str(tmp_path_factory.mktemp("stages") / "ds"), 12, 12, seed=5, size=64, views=3)
    torch.manual_seed(0)
    network = build("multiview", input_size=64)
    stages = fit_stages(network, [data], n_views=3, batch_size=5)
    assert stages.faces == 12 and set(stages.r2) == {"front", "front + side", "front + 2 sides"}
    assert list(stages.r2["front"]) == [name for name, _ in FIT_STAGES]
    identity = [k for k, name in enumerate(stages.names) if name.startswith("identity")][:20]
    mean = {stage: float(np.mean([r2[k] for k in identity])) for stage, r2 in stages.r2["front + 2 sides"].items()}
    assert mean["fit, true landmarks and pose"] > 0.3, mean  # 0.54 (12 faces; the untrained fit's 6-px noise)
    assert mean["fit, true landmarks and pose"] > max(mean["network"], mean["its fit alone"]) + 0.5, mean
    # the rotation stages give the true rotation and keep the network's scale and shift: neither its pose nor the truth
    rotation = mean["fit, true landmarks and rotation"]
    assert min(abs(rotation - mean["fit, true landmarks"]), abs(rotation - mean["fit, true landmarks and pose"])) > 0.1
    assert set(stages.of("identity-17")["front"]) == set(mean)


@pytest.mark.slow
def test_multiview_trains_on_three_view_data_and_reports_whether_it_uses_its_views(tmp_path, tmp_path_factory,
                                                                                    builtin_model):
    from conftest import synthetic_dataset

    from frontside.evaluation.diagnostics import FRONT, SHUFFLED, THREE, TWO, view_diagnostics
    from frontside.evaluation.evaluate import evaluate_predictor, load_pairs
    from frontside.learning.config import TrainConfig
    from frontside.learning.inference import Predictor
    from frontside.learning.trainer import train
    from frontside.store.dataset import dataset_model

    data = synthetic_dataset(str(tmp_path_factory.mktemp("mv3") / "ds"), 24, 12, seed=3, size=64, views=3)
    config = TrainConfig(data=[data], out=str(tmp_path / "run"), arch="multiview", epochs=2, batch_size=4,
                         input_size=32, progress=False, max_val_batches=1)
    result = train(config)
    assert np.isfinite(result.last_step_loss) and result.epochs_run == 2
    # --precision auto keeps multiview in float32, and metrics.csv says what ran
    import csv

    with open(tmp_path / "run" / "metrics.csv") as f:
        assert {row["precision"] for row in csv.DictReader(f)} == {"fp32"}
    # --coefficients-sd reaches the loss the run trains with; unset, the loss's own default
    import dataclasses

    from frontside.learning import distributed
    from frontside.learning.multiview_loss import MultiViewWeights
    from frontside.learning.trainer import Trainer

    for weight, expected in ((None, MultiViewWeights().coefficients_sd), (0.02, 0.02)):
        trainer = Trainer(dataclasses.replace(config, out=str(tmp_path / f"run-{weight}"), coefficients_sd=weight))
        if trainer.own_group:
            distributed.stop()
        assert trainer.objective.weights.coefficients_sd == expected
    predictor = Predictor.from_checkpoint(result.best_path)
    assert predictor.arch == "multiview" and predictor.views == "any" and predictor.precision == "fp32"
    assert predictor.network.flip_test  # on by default; a researcher can turn it off
    assert not Predictor.from_checkpoint(result.best_path, flip_test=False).network.flip_test
    faces = load_pairs([data], 6, n_views=None)
    for views in (1, 2, 3):
        posmaps, coefficients = predictor.predict_views([[v.image for v in f.views[:views]] for f in faces])
        assert posmaps.shape == (6, 64, 64, 3) and np.isfinite(posmaps).all()
        assert coefficients.shape == (6, predictor.basis.n_components)
    model = dataset_model(data)
    scores = evaluate_predictor(predictor, faces, model, "mv")
    report = view_diagnostics(predictor, faces, model, scores.icp_errors)
    assert set(report["nme_by_views"]) == {FRONT, TWO, THREE}
    assert report["side_shuffle"]["own"] == pytest.approx(float(scores.icp_errors.mean()))
    assert set(report["component_r2"]["r2"]) >= {FRONT, TWO, SHUFFLED}
    assert report["component_r2"]["names"][0].endswith("(identity-17)")  # head depth moves the face most
    lower, upper = report["component_r2"]["r2_interval"][TWO]
    assert len(lower) == len(upper) == len(report["component_r2"]["names"])
    assert all(lo <= hi for lo, hi in zip(lower, upper))
    ceiling = report["component_r2"]["landmark_ceiling"]
    assert len(ceiling) == len(report["component_r2"]["names"]) and all(0 < c < 1 for c in ceiling)
    from frontside.evaluation.diagnostics import landmarks_picture

    landmarks_picture(predictor, faces, tmp_path / "landmarks.png", count=2)
    assert (tmp_path / "landmarks.png").read_bytes()[:4] == b"\x89PNG"
    # reconstruct takes any number of photos: a front alone, with one side, with both (one more side per face.json)
    from frontside.pictures import write_png
    from frontside.reconstruct.pipeline import Reconstructor

    photos = [str(write_png(tmp_path / f"view{k}.png", v.image)) for k, v in enumerate(faces[0].views[:3])]
    reconstructor = Reconstructor(result.best_path, detector="haar")
    meshes = {}
    for count in (1, 2, 3):
        out = reconstructor.reconstruct(photos[0], photos[1:count], iterations=1, detect=False)
        assert (out.side is not None) == (count > 1) and len(out.more_sides) == max(0, count - 2)
        meshes[count] = out.posmap
        written = reconstructor.write(out, tmp_path / f"face{count}.obj")
        body = json.loads(Path(written["json"]).read_text())
        assert len(body.get("more_sides", [])) == max(0, count - 2)
    assert not np.array_equal(meshes[1], meshes[2]) and not np.array_equal(meshes[2], meshes[3])


def test_items_carry_a_target_in_every_view_and_pad_a_face_of_fewer_views(tmp_path, builtin_model):
    from conftest import synthetic_dataset

    from frontside.learning.data import MultiViewDataset, ShardDataset
    from frontside.learning.multiview_data import ViewTargets

    basis = default_basis()
    data = synthetic_dataset(str(tmp_path / "two"), 2, 2, seed=4, size=64, views=2)
    faces = ShardDataset(data, labels=True, input_size=32, target_stride=2)
    items = ViewTargets(MultiViewDataset(faces), basis, n_views=3)
    x, y = items[0]
    assert x.shape == (9, 32, 32) and float(x[6:].abs().sum()) == 0  # the third view is padding
    assert y["present"].tolist() == [True, True, False] and not y["visible"][2].any()
    assert torch.isfinite(y["pose"][:2]).all() and torch.isnan(y["pose"][2]).all()
    # each view's pose target puts the face's true landmarks where the row has them (S-frame pixels)
    lmk = landmark_fit.landmark_basis(basis)
    projected = landmark_fit.project(torch.from_numpy(lmk.mean), torch.from_numpy(lmk.components), y["pose"][:2],
                                     y["coefficients"][None].expand(2, -1), basis.size)
    assert float((projected - y["landmarks"][:2]).norm(dim=-1).mean()) < 2.0
    # view dropout leaves the front and drops sides, the same way for the same (seed, epoch, index)
    dropping = ViewTargets(MultiViewDataset(faces), basis, n_views=2, view_dropout=0.5, seed=1)
    draws = [bool(dropping[(epoch, 0)][1]["present"][1]) for epoch in range(12)]
    assert all(dropping[(epoch, 0)][1]["present"][0] for epoch in range(3)) and 0 < sum(draws) < 12
    assert draws == [bool(dropping[(epoch, 0)][1]["present"][1]) for epoch in range(12)]
