"""Evaluation tasks: one task run per model (not per face); they pass score files, not arrays."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from frontside.evaluation.config import EvaluateConfig
from frontside.evaluation.evaluate import ModelScores, evaluate_mean_face, evaluate_predictor, load_pairs
from frontside.store.dataset import dataset_model


@task(name="check-evaluation", cache_policy=NO_CACHE)
def check_evaluation_task(config: EvaluateConfig) -> None:
    from frontside.evaluation.checks import check_evaluation

    check_evaluation(config)


@task(name="evaluate-checkpoint", task_run_name="evaluate-{name}")
def evaluate_checkpoint_task(checkpoint: str, name: str, data: list[str], out: str,
                             max_faces: int | None = None) -> str:
    from dataclasses import replace

    from frontside.evaluation.diagnostics import view_diagnostics
    from frontside.learning.ensemble import load_predictor

    model = dataset_model(data[0])
    predictor = load_predictor(checkpoint)
    faces = load_pairs(data, max_faces, n_views=None)
    scores = evaluate_predictor(predictor, faces, model, name, checkpoint=checkpoint)
    scores = replace(scores, views=view_diagnostics(predictor, faces, model, scores.icp_errors))
    if predictor.views == "any":
        from frontside.evaluation.diagnostics import landmarks_picture

        landmarks_picture(predictor, faces, Path(out) / f"landmarks-{name}.png")
    return str(scores.save(Path(out) / "scores" / f"{name}.json"))


@task(name="write-shipped-checkpoint", task_run_name="shipped-{name}", cache_policy=NO_CACHE)
def shipped_checkpoint_task(name: str, path: str) -> str:
    """An ordinary checkpoint at `path` of the shipped network `name` (`frontside.learning.shipped`)."""
    from frontside.learning.shipped import write_checkpoint

    return str(write_checkpoint(name, path))


@task(name="evaluate-mean-face")
def evaluate_mean_face_task(data: list[str], out: str, max_faces: int | None = None) -> str:
    scores = evaluate_mean_face(load_pairs(data, max_faces), dataset_model(data[0]))
    return str(scores.save(Path(out) / "scores" / "mean-face.json"))


@task(name="write-report")
def write_report_task(score_paths: list[str], out: str, dataset: str, checkpoints: dict[str, str],
                      data: list[str], n_mesh_faces: int = 3) -> str:
    from frontside.evaluation.evaluate import face_triangles
    from frontside.evaluation.report import write_report
    from frontside.geometry.posmap import sample_posmap
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.ensemble import checkpoint_members, load_predictor

    scores = [ModelScores.load(p) for p in score_paths]
    model = dataset_model(data[0])
    pairs = load_pairs(data, n_mesh_faces)
    predictors = {name: load_predictor(path) for name, path in checkpoints.items()}
    meshes = [{"face_id": p.meta.face_id, "truth": sample_posmap(p.posmap, model.uv),
               "predictions": {name: sample_posmap(pr.predict(p.front, p.side), model.uv)
                               for name, pr in predictors.items()}} for p in pairs]
    histories = {}
    for name, spec in checkpoints.items():
        members = checkpoint_members(spec)
        if len(members) > 1:  # an ensemble: each member's run has its own curves
            continue
        path = members[0]
        last = Path(path).with_name("last.pt")  # the whole run, not only the epochs up to the best one
        state = load_checkpoint(str(last) if last.exists() else path)
        histories[name] = {"history": state["history"], "baselines": state["config"].get("baselines", {})}
    paths = write_report(scores, out, dataset=dataset, meshes=meshes, triangles=face_triangles(model),
                         histories=histories)
    return str(paths["markdown"])


@task(name="render-florence-views")
def florence_views_task(root: str, out: str, max_faces: int | None = None) -> str:
    from frontside.sources.florence import prepare_views

    return str(prepare_views(root, out, max_faces))


@task(name="evaluate-checkpoint-on-scans", task_run_name="evaluate-{name}-scans")
def evaluate_checkpoint_on_scans_task(checkpoint: str, name: str, views_dir: str, out: str) -> str:
    from frontside.evaluation.evaluate import checkpoint_face_model, evaluate_predictor_on_scans
    from frontside.learning.ensemble import load_predictor
    from frontside.sources.florence import load_views

    scores = evaluate_predictor_on_scans(load_predictor(checkpoint), load_views(views_dir),
                                         checkpoint_face_model(checkpoint), name, checkpoint)
    return str(scores.save(Path(out) / "scores" / f"{name}.json"))


@task(name="evaluate-mean-face-on-scans")
def evaluate_mean_face_on_scans_task(views_dir: str, out: str, checkpoint: str) -> str:
    """The mean face of the face model `checkpoint` answers in, on the scans."""
    from frontside.evaluation.evaluate import checkpoint_face_model, evaluate_mean_face_on_scans
    from frontside.sources.florence import load_views

    scores = evaluate_mean_face_on_scans(load_views(views_dir), checkpoint_face_model(checkpoint))
    return str(scores.save(Path(out) / "scores" / "mean-face.json"))


@task(name="write-scan-report")
def write_scan_report_task(score_paths: list[str], out: str, dataset: str) -> str:
    from frontside.evaluation.report import write_report

    return str(write_report([ModelScores.load(p) for p in score_paths], out, dataset=dataset)["markdown"])


@task(name="evaluate-checkpoint-on-aflw2000", task_run_name="evaluate-{name}-aflw2000")
def evaluate_checkpoint_on_aflw2000_task(checkpoint: str, name: str, root: str, out: str,
                                         max_faces: int | None = None, model_spec: str | None = None) -> str:
    """One one-view network on AFLW2000-3D's photos through the reconstruct pipeline (`evaluation.aflw2000`)."""
    from frontside.evaluation.aflw2000 import PhotoPrediction, evaluate_aflw2000, save_scores
    from frontside.evaluation.evaluate import face_vertex_mask
    from frontside.facemodel import load_model
    from frontside.reconstruct.pipeline import Reconstructor
    from frontside.sources.aflw2000 import read_samples

    reconstructor = Reconstructor(checkpoint)
    model = load_model(model_spec) if model_spec else None
    uv = model.uv if model is not None and reconstructor.face_model == model.name else None  # its own UV layout

    def reconstruct(photo: str, truth) -> PhotoPrediction:
        return PhotoPrediction(**reconstructor.reconstruct_in_photo(photo, truth, uv))

    scores = evaluate_aflw2000(reconstruct, read_samples(root, max_faces), model,
                               None if model is None else face_vertex_mask(model))
    return str(save_scores(scores, name, checkpoint, reconstructor.predictor.arch,
                           Path(out) / "scores" / f"{name}.json"))


@task(name="write-aflw2000-report")
def write_aflw2000_report_task(score_paths: list[str], out: str, root: str) -> str:
    from frontside.evaluation.aflw2000 import load_scores, write_aflw2000_report

    return str(write_aflw2000_report([load_scores(p) for p in score_paths], out, root)["markdown"])
