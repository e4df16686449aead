"""The shipped networks (`frontside.learning.shipped`): written back into ordinary checkpoints, they read a side
photo (another face's side photo makes their answer worse), the two-view answer beats the same design trained on
fronts alone, and a changed face model is refused rather than silently mismatched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import synthetic_dataset


@pytest.fixture(scope="module")
def shipped_checkpoints(tmp_path_factory, builtin_model) -> dict[str, str]:
    from frontside.learning.shipped import SHIPPED, write_checkpoint

    out = tmp_path_factory.mktemp("shipped")
    return {name: str(write_checkpoint(name, out / f"shipped-{name}.pt")) for name in SHIPPED}


def test_the_shipped_two_view_network_reads_its_side_photo_and_beats_its_fronts_trained_twin(shipped_checkpoints,
                                                                                             tmp_path_factory):
    from frontside.evaluation.diagnostics import view_diagnostics
    from frontside.evaluation.evaluate import evaluate_predictor, load_pairs
    from frontside.learning.inference import Predictor
    from frontside.store.dataset import dataset_model

    # eight of the demo's (and the learning benchmark's) held-out faces, front and both sides
    data = synthetic_dataset(str(tmp_path_factory.mktemp("held-out") / "ds"), 8, 8, seed=1_000_003, views=3)
    faces, model = load_pairs([data], n_views=None), dataset_model(data)
    two_views = Predictor.from_checkpoint(shipped_checkpoints["multiview"], precision="fp32")
    fronts = Predictor.from_checkpoint(shipped_checkpoints["multiview-front"], precision="fp32")
    assert (two_views.views, fronts.views) == ("any", "front")
    scores = evaluate_predictor(two_views, faces, model, "shipped-multiview")
    diag = view_diagnostics(two_views, faces, model, scores.icp_errors)
    front_only = float(np.mean(evaluate_predictor(fronts, faces, model, "shipped-multiview-front").icp_errors))
    by_views = diag["nme_by_views"]
    # another face's side photo makes it worse (a network that ignored its side would score +0%)
    assert diag["side_shuffle"]["change"] > 0.10
    # a side photo helps, and two photos beat the same design trained on fronts alone
    assert by_views["front + side"] < 0.95 * by_views["front"]
    assert by_views["front + side"] < 0.95 * front_only
    assert by_views["front + 2 sides"] < 1.02 * by_views["front + side"]


def test_view_diagnostics_keep_one_batch_of_position_maps_and_score_as_before(shipped_checkpoints, tmp_path_factory):
    """`frontside evaluate` on many faces: the diagnostics score each batch's position maps as they come and keep
    none (kept whole, 480 faces x 5 conditions of 256-px maps were ~2 GB a network), with the same scores."""
    import weakref

    from frontside.evaluation.diagnostics import view_diagnostics
    from frontside.evaluation.evaluate import evaluate_predictor, load_pairs, score_posmaps
    from frontside.learning.inference import Predictor
    from frontside.store.dataset import dataset_model

    data = synthetic_dataset(str(tmp_path_factory.mktemp("held-out-6") / "ds"), 6, 6, seed=1_000_003, views=3)
    faces, model = load_pairs([data], n_views=None), dataset_model(data)
    predictor = Predictor.from_checkpoint(shipped_checkpoints["multiview"], precision="fp32")
    own = evaluate_predictor(predictor, faces, model, "shipped-multiview").icp_errors
    alive: list[int] = []
    earlier: list[weakref.ref] = []
    predict_views = predictor.predict_views

    def watched(views, present=None):  # the real network; counts the earlier batches' maps still held
        alive.append(sum(ref() is not None for ref in earlier))
        posmaps, coefficients = predict_views(views, present)
        earlier.append(weakref.ref(posmaps))
        return posmaps, coefficients

    predictor.predict_views = watched
    diag = view_diagnostics(predictor, faces, model, own, batch_size=2)
    assert len(alive) == 5 * 3 and max(alive) == 0  # 5 conditions x 3 batches, no earlier batch's maps held
    predictor.predict_views = predict_views
    whole = predict_views([[v.image for v in f.views[:3]] for f in faces])[0]  # all six faces in one batch
    assert diag["nme_by_views"]["front + 2 sides"] == pytest.approx(float(np.mean(score_posmaps(whole, faces, model))),
                                                                    rel=1e-4)
    # the same scores as one batch of six, to the batch size's rounding (which ICP magnifies to ~5e-5)
    once = view_diagnostics(predictor, faces, model, own, batch_size=6)
    assert diag["side_shuffle"] == pytest.approx(once["side_shuffle"], rel=1e-3)
    assert diag["nme_by_views"] == pytest.approx(once["nme_by_views"], rel=1e-3)
    assert np.allclose(diag["component_r2"]["r2"]["front + side"], once["component_r2"]["r2"]["front + side"],
                       atol=1e-4)


def test_a_shipped_file_is_its_checkpoint_in_float16_and_a_changed_face_model_is_refused(shipped_checkpoints,
                                                                                        tmp_path, monkeypatch):
    import frontside.learning.shipped as shipped
    from frontside.errors import DataIntegrityError, ParameterError
    from frontside.learning.checkpoint.saving import check_checkpoint, load_checkpoint

    state = load_checkpoint(shipped_checkpoints["multiview"])
    stored = shipped.read_shipped("multiview")
    assert state["arch"] == "multiview" and state["config"]["views"] == 3 and state["model_spec"] == "builtin"
    assert all(stored["card"][key] for key in shipped.CARD_FIELDS)
    for name, weight in state["model"].items():  # float32, holding exactly the stored float16 values
        assert torch.equal(weight, stored["model"][name].to(weight.dtype))
    check_checkpoint(shipped_checkpoints["multiview"])  # what `evaluate` and `reconstruct` check first
    # where a command takes a checkpoint, shipped:NAME is one written once into the cache
    monkeypatch.setenv("FRONTSIDE_CACHE", str(tmp_path / "cache"))
    assert shipped.resolve("runs/twoview/best.pt") == "runs/twoview/best.pt"
    cached = shipped.resolve("shipped:multiview-front")
    assert cached.startswith(str(tmp_path / "cache" / "shipped")) and load_checkpoint(cached)["config"]["views"] == 1
    written = Path(cached).stat().st_mtime_ns
    assert shipped.resolve("shipped:multiview-front") == cached and Path(cached).stat().st_mtime_ns == written
    # exported again, the same file's contents
    monkeypatch.setattr(shipped, "FOLDER", tmp_path)
    shipped.export_weights(shipped_checkpoints["multiview"], tmp_path / "multiview.pt", stored["card"])
    reread = shipped.read_shipped("multiview")
    assert {k: v for k, v in reread.items() if k != "model"} == {k: v for k, v in stored.items() if k != "model"}
    assert all(torch.equal(reread["model"][k], v) for k, v in stored["model"].items())

    with pytest.raises(ParameterError, match="shipped.*'prn': not a shipped network"):
        shipped.shipped_path("prn")
    # a built-in face model that changed under a shipped network: refused, naming the file and the field
    torch.save({**stored, "basis_sha256": "0" * 64}, tmp_path / "multiview.pt")
    with pytest.raises(DataIntegrityError, match=r"multiview\.pt: field 'basis_sha256'"):
        shipped.write_checkpoint("multiview", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
    (tmp_path / "multiview.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataIntegrityError, match=r"multiview\.pt: not a readable shipped network"):
        shipped.write_checkpoint("multiview", tmp_path / "out.pt")
