"""The evaluation flow: every checkpoint and the mean-face baseline on one test set, then the report."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from frontside.evaluation.config import EvaluateConfig
from frontside.orchestration.tasks.evaluate import (
    check_evaluation_task,
    evaluate_checkpoint_on_aflw2000_task,
    evaluate_checkpoint_on_scans_task,
    evaluate_checkpoint_task,
    evaluate_mean_face_on_scans_task,
    evaluate_mean_face_task,
    florence_views_task,
    write_aflw2000_report_task,
    write_report_task,
    write_scan_report_task,
)


def model_name(checkpoint: str) -> str:
    """A readable name for a checkpoint: its run folder's name (runs/twoview/best.pt -> twoview); an ensemble's
    joins its networks' names (runs/a/last.pt+runs/b/last.pt -> a+b)."""
    from frontside.learning.ensemble import JOIN, checkpoint_members

    paths = [Path(member) for member in checkpoint_members(checkpoint)]
    return JOIN.join(path.parent.name if path.stem in ("best", "last") else path.stem for path in paths)


@flow(name="evaluate-models", log_prints=True)
def evaluate_models(config: EvaluateConfig) -> str:
    """Evaluate checkpoints on synthetic shards (`config.data`), a MICC Florence tree or AFLW2000-3D's photos;
    returns report.md's path.

    The first task checks every parameter and input (`frontside.evaluation.checks`)."""
    check_evaluation_task(config)
    names = {}
    for checkpoint in config.checkpoints:
        name = model_name(checkpoint)
        while name in names:
            name += "'"
        names[name] = checkpoint
    out, data = config.out, config.data
    if config.aflw2000:
        futures = [evaluate_checkpoint_on_aflw2000_task.submit(c, n, config.aflw2000, out, config.max_faces,
                                                               config.model) for n, c in names.items()]
        report = write_aflw2000_report_task([f.result() for f in futures], out, config.aflw2000)
        print(f"report: {report}")
        return report
    if config.florence:
        views = florence_views_task(config.florence, str(Path(out) / "florence-views"), config.max_faces)
        futures = [evaluate_checkpoint_on_scans_task.submit(c, n, views, out) for n, c in names.items()]
        # the mean face of the face model the (first) checkpoint answers in
        futures.append(evaluate_mean_face_on_scans_task.submit(views, out, config.checkpoints[0]))
        report = write_scan_report_task([f.result() for f in futures], out, config.florence)
        print(f"report: {report}")
        return report
    futures = [evaluate_checkpoint_task.submit(c, n, data, out, config.max_faces) for n, c in names.items()]
    futures.append(evaluate_mean_face_task.submit(data, out, config.max_faces))
    score_paths = [f.result() for f in futures]
    report = write_report_task(score_paths, out, ", ".join(data), names, data)
    print(f"report: {report}")
    return report
