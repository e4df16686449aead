"""MICC Florence's layout, with scans made from built-in faces (the real scans are licensed)."""

import numpy as np
import pytest

from frontside.errors import InputFormatError
from frontside.geometry.mesh_io import write_obj
from frontside.geometry.raster import silhouette
from frontside.sources.florence import find_scans, load_scan, load_views, prepare_views


@pytest.fixture
def florence_root(tmp_path, builtin_model):
    rng = np.random.default_rng(0)
    for subject in ("subject_01", "subject_02"):
        face = builtin_model.face(rng, subject)
        folder = tmp_path / "florence" / subject / "Model" / "frontal1" / "obj"
        folder.mkdir(parents=True)
        texture = np.zeros((128, 128, 3), np.uint8)
        texture[..., 0] = np.linspace(150, 230, 128)[None, :]
        texture[..., 1], texture[..., 2] = 140, 120
        # a scan sits anywhere in its scanner's frame: shift it
        write_obj(folder / "110920150452.obj", face.vertices + [40.0, -25.0, 300.0], face.triangles, uv=face.uv,
                  texture=texture)
    return tmp_path / "florence"


def test_layout_and_crop(florence_root):
    scans = find_scans(florence_root)
    assert [s for s, _ in scans] == ["subject_01", "subject_02"]
    scan = load_scan(scans[0][1], radius=90)
    assert scan.colours is not None and scan.colours[:, 0].max() > 0.55
    tip = scan.vertices[np.argmax(scan.vertices[:, 2])]
    assert np.linalg.norm(scan.vertices - tip, axis=1).max() <= 90 + 1e-3
    with pytest.raises(InputFormatError, match="no scan found"):
        find_scans(florence_root / "subject_01")


@pytest.mark.slow
def test_rendered_views_and_ground_truth_share_the_front_frame(florence_root, tmp_path):
    out = prepare_views(florence_root, tmp_path / "views", max_faces=1)
    (view,) = load_views(out)
    assert view.front.shape == view.side.shape == (256, 256, 3)
    scan = load_scan(find_scans(florence_root)[0][1])
    mask = silhouette(view.scan_points[:, :2], view.scan_points[:, 2], scan.triangles, 256, 256)
    face_pixels = view.front.sum(axis=2) > 0
    assert (mask & face_pixels).sum() / (mask | face_pixels).sum() > 0.95


@pytest.mark.slow
def test_evaluate_on_florence(florence_root, tmp_path, prefect_harness, tiny_dataset):
    from frontside.evaluation.config import EvaluateConfig
    from frontside.learning.checkpoint.saving import save_checkpoint
    from frontside.learning.networks.registry import build
    from frontside.orchestration.flows.evaluate import evaluate_models

    path = tmp_path / "frontonly" / "best.pt"
    save_checkpoint(path, network=build("frontonly"), config={"data": [tiny_dataset]})
    report = evaluate_models(EvaluateConfig(checkpoints=[str(path)], florence=str(florence_root),
                                            out=str(tmp_path / "report")))
    text = open(report).read()
    assert "| frontonly |" in text and "| mean face |" in text
