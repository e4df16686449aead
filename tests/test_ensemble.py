"""An ensemble ("a.pt+b.pt"): several networks of one design read as one, the mean of their answers, wherever a
checkpoint is taken (evaluate, reconstruct)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, builtin_model):
    """Two multiview networks trained alike but for the seed, on three-view data, and that data."""
    from conftest import synthetic_dataset

    from frontside.learning.config import TrainConfig
    from frontside.learning.trainer import train

    root = tmp_path_factory.mktemp("ensemble")
    data = synthetic_dataset(str(root / "ds"), 16, 8, seed=21, size=64, views=3)
    runs = [train(TrainConfig(data=[data], out=str(root / f"seed{seed}"), arch="multiview", epochs=1, batch_size=4,
                              input_size=32, progress=False, max_val_batches=1, seed=seed)).last_path
            for seed in (0, 1)]
    return data, runs


def test_an_ensemble_answers_the_mean_of_its_networks_answers(two_seeds):
    from frontside.evaluation.evaluate import load_pairs
    from frontside.learning.ensemble import Ensemble, load_predictor
    from frontside.learning.inference import Predictor

    data, (a, b) = two_seeds
    ensemble = load_predictor(f"{a}+{b}")
    assert isinstance(ensemble, Ensemble) and isinstance(load_predictor(a), Predictor)
    assert ensemble.arch == "multiview" and ensemble.views == "any" and ensemble.size == 64
    faces = load_pairs([data], 4, n_views=None)
    views = [[v.image for v in f.views] for f in faces]
    alone = [Predictor.from_checkpoint(path).predict_views(views) for path in (a, b)]
    assert not np.allclose(alone[0][0], alone[1][0])  # two seeds answer differently
    posmaps, coefficients = ensemble.predict_views(views)
    np.testing.assert_allclose(posmaps, (alone[0][0] + alone[1][0]) / 2, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(coefficients, (alone[0][1] + alone[1][1]) / 2, rtol=1e-5, atol=1e-6)
    fronts = [f.front for f in faces]
    np.testing.assert_allclose(ensemble.predict_batch(fronts, [None] * 4),
                               np.mean([Predictor.from_checkpoint(p).predict_batch(fronts, [None] * 4)
                                        for p in (a, b)], axis=0), rtol=1e-5, atol=1e-4)


def test_an_ensembles_networks_must_be_one_design_and_each_a_checkpoint(two_seeds, tmp_path):
    from frontside.errors import FrontsideError, ParameterError
    from frontside.learning.checkpoint.validation import check_checkpoint_file
    from frontside.learning.ensemble import check_checkpoints, checkpoint_members, members_problem

    _, (a, b) = two_seeds
    assert checkpoint_members(f"{a}+{b}") == [a, b] and checkpoint_members(a) == [a]
    plus = tmp_path / "run+1.pt"  # a file whose own name holds "+" is one checkpoint
    plus.write_bytes(Path(a).read_bytes())
    assert checkpoint_members(str(plus)) == [str(plus)]
    assert len(check_checkpoints(f"{a}+{b}")) == 2 and len(check_checkpoints(f"{a}+{a}")) == 2
    with pytest.raises(ParameterError, match="each side"):
        check_checkpoints(f"{a}+", "checkpoints")
    with pytest.raises(FrontsideError, match="/nowhere/b.pt"):
        check_checkpoints(f"{a}+/nowhere/b.pt", "checkpoints")
    state = check_checkpoint_file(a)
    fronts = dict(state, config=dict(state["config"], views=1))  # the same arch trained on fronts alone
    assert members_problem({a: state, "two.pt": dict(state, config=dict(state["config"], views=2))}) is None
    problem = members_problem({a: state, "fronts.pt": fronts})
    assert problem is not None and "fronts.pt" in problem and "one design" in problem
    assert members_problem({a: state, b: check_checkpoint_file(b)}) is None
    from frontside.learning.ensemble import Ensemble

    with pytest.raises(ValueError, match="at least two"):
        Ensemble([])


def test_evaluate_and_reconstruct_take_an_ensemble(two_seeds, tmp_path):
    from frontside.evaluation.evaluate import load_pairs
    from frontside.pictures import write_png

    data, (a, b) = two_seeds
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "frontside.cli", "evaluate", "--checkpoint", a, "--checkpoint",
                           f"{a}+{b}", "--data", data, "--out", str(out), "--max-faces", "6"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    scores = json.loads((out / "scores" / "seed0+seed1.json").read_text())
    assert scores["checkpoint"] == f"{a}+{b}" and scores["arch"] == "multiview"
    alone = json.loads((out / "scores" / "seed0.json").read_text())
    assert len(scores["faces"]) == len(alone["faces"]) == 6
    assert [f["nme_icp"] for f in scores["faces"]] != [f["nme_icp"] for f in alone["faces"]]
    assert "seed0+seed1" in (out / "report.md").read_text()
    # a missing member: one line naming it, exit 1, nothing written
    bad = subprocess.run([sys.executable, "-m", "frontside.cli", "evaluate", "--checkpoint", f"{a}+/nowhere/b.pt",
                          "--data", data, "--out", str(tmp_path / "bad")], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert bad.returncode in (1, 2) and "/nowhere/b.pt" in bad.stderr and not (tmp_path / "bad").exists()
    # reconstruct: the mean of the two networks' meshes
    from frontside.reconstruct.pipeline import Reconstructor

    face = load_pairs([data], 1, n_views=None)[0]
    photos = [str(write_png(tmp_path / f"view{k}.png", v.image)) for k, v in enumerate(face.views)]
    both = Reconstructor(f"{a}+{b}", detector="haar").reconstruct(photos[0], photos[1:], iterations=1, detect=False)
    one = Reconstructor(a, detector="haar").reconstruct(photos[0], photos[1:], iterations=1, detect=False)
    assert both.posmap.shape == one.posmap.shape and not np.allclose(both.posmap, one.posmap)
