import numpy as np
import pytest

from frontside.geometry.metrics import bbox_size, ced, nme, nme_to_surface


def _cloud(n=3000, seed=0):
    """An asymmetric, curved cloud: no symmetry for ICP to slip along."""
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(-1, 1, (2, n))
    return np.column_stack([u * 60, v * 80, 30 * np.exp(-(u - 0.3) ** 2 * 3 - (v + 0.2) ** 2 * 2) + 8 * u * v])


def test_nme_and_ced():
    truth = _cloud(500)
    assert nme(truth, truth) == 0.0
    shifted = truth + [0, 0, 3.0]
    assert nme(shifted, truth) == pytest.approx(3.0 / bbox_size(shifted))
    assert bbox_size(np.array([[0, 0, 0], [4, 9, 1.0]])) == pytest.approx(6.0)
    assert nme_to_surface(truth, truth) == 0.0
    np.testing.assert_allclose(ced(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 0.25, 1.0])), [0, 0.5, 1.0])


class _TruthPredictor:
    """A 'network' that answers with the ground truth: evaluation must then score ~0."""

    arch = "twoview"

    def __init__(self, pairs):
        self.by_front = {p.front.tobytes(): p.posmap for p in pairs}

    def predict_batch(self, fronts, sides):
        return np.stack([self.by_front[f.tobytes()] for f in fronts])


@pytest.fixture
def four_pairs(tiny_dataset):
    """The first four pairs of the tiny dataset and its face model."""
    from frontside.evaluation.evaluate import load_pairs
    from frontside.store.dataset import dataset_model

    return load_pairs([tiny_dataset], 4), dataset_model(tiny_dataset)


def test_a_perfect_prediction_scores_zero_and_beats_the_mean_face(four_pairs):
    from frontside.evaluation.evaluate import evaluate_mean_face, evaluate_predictor

    pairs, model = four_pairs
    perfect = evaluate_predictor(_TruthPredictor(pairs), pairs, model, "truth").summary()
    baseline = evaluate_mean_face(pairs, model).summary()
    assert perfect["mean_nme_exact"] < 1e-6 and perfect["mean_nme"] < 1e-3
    assert baseline["mean_nme"] > 5 * perfect["mean_nme"]


class _CollapsedPredictor(_TruthPredictor):
    """Every point of the truth pulled to within `spread` pixels of one point in the middle of the face, the
    way an untrained network's nearly constant output looks."""

    def __init__(self, pairs, spread):
        super().__init__(pairs)
        self.spread = spread

    def predict_batch(self, fronts, sides):
        truth = super().predict_batch(fronts, sides)
        centre = truth[:, 128:129, 128:129, :]
        noise = np.random.default_rng(0).normal(0, 1, truth.shape).astype(np.float32)
        return centre + noise * self.spread


@pytest.mark.slow
def test_a_collapsed_prediction_cannot_score_well(four_pairs):
    # Normalised by the truth's box, a prediction collapsed onto a patch of the true surface scored ~0 after
    # ICP. With eq. 5.1's own normaliser (the prediction's box) the score is scale-invariant.
    from frontside.evaluation.evaluate import evaluate_mean_face, evaluate_predictor

    pairs, model = four_pairs
    baseline = evaluate_mean_face(pairs, model).summary()["mean_nme"]
    for spread in (1e-3, 0.5):
        collapsed = evaluate_predictor(_CollapsedPredictor(pairs, spread), pairs, model, "collapsed").summary()
        assert collapsed["mean_nme"] > 5 * baseline, (spread, collapsed["mean_nme"], baseline)
    flat = evaluate_predictor(_CollapsedPredictor(pairs, 0.0), pairs, model, "constant").summary()
    assert flat["mean_nme"] == float("inf")


@pytest.mark.slow
def test_evaluate_flow_writes_the_report(tiny_dataset, tmp_path, prefect_harness):
    import json

    from frontside.evaluation.config import EvaluateConfig
    from frontside.learning.checkpoint.saving import save_checkpoint
    from frontside.learning.networks.registry import build
    from frontside.orchestration.flows.evaluate import evaluate_models

    checkpoints = []
    for arch in ("twoview", "prn"):
        path = tmp_path / arch / "best.pt"
        save_checkpoint(path, network=build(arch))
        checkpoints.append(str(path))
    report = evaluate_models(EvaluateConfig(checkpoints=checkpoints, data=[tiny_dataset],
                                            out=str(tmp_path / "report"), max_faces=3))
    text = open(report).read()
    assert "| twoview |" in text and "| prn |" in text and "| mean face |" in text
    body = json.loads((tmp_path / "report" / "report.json").read_text())
    assert all(np.isfinite(m["mean_nme"]) for m in body["models"])
    assert (tmp_path / "report" / "ced.png").stat().st_size > 1000
    assert (tmp_path / "report" / "meshes.png").exists()
