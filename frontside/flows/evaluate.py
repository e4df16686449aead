"""The evaluation flow: every checkpoint and the mean-face baseline on one test set, then the report."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from frontside.tasks.evaluate import (
    check_evaluation_task,
    evaluate_checkpoint_on_scans_task,
    evaluate_checkpoint_task,
    evaluate_mean_face_on_scans_task,
    evaluate_mean_face_task,
    florence_views_task,
    write_report_task,
    write_scan_report_task,
)


def model_name(checkpoint: str) -> str:
    """A readable name for a checkpoint: its run folder's name (runs/twoview/best.pt -> twoview)."""
    path = Path(checkpoint)
    return path.parent.name if path.stem in ("best", "last") else path.stem


@flow(name="evaluate-models", log_prints=True)
def evaluate_models(checkpoints: list[str], out: str, data: list[str] | None = None, florence: str | None = None,
                    max_faces: int | None = None) -> str:
    """Evaluate checkpoints on synthetic shards (`data`) or a MICC Florence tree; returns report.md's path.

    The first task checks every parameter and input (`frontside.evaluation.checks`)."""
    check_evaluation_task(checkpoints, out, data, florence, max_faces)
    names = {}
    for checkpoint in checkpoints:
        name = model_name(checkpoint)
        while name in names:
            name += "'"
        names[name] = checkpoint
    if florence:
        views = florence_views_task(florence, str(Path(out) / "florence-views"), max_faces)
        futures = [evaluate_checkpoint_on_scans_task.submit(c, n, views, out) for n, c in names.items()]
        futures.append(evaluate_mean_face_on_scans_task.submit(views, out))
        report = write_scan_report_task([f.result() for f in futures], out, florence)
        print(f"report: {report}")
        return report
    futures = [evaluate_checkpoint_task.submit(c, n, data, out, max_faces) for n, c in names.items()]
    futures.append(evaluate_mean_face_task.submit(data, out, max_faces))
    score_paths = [f.result() for f in futures]
    report = write_report_task(score_paths, out, ", ".join(data), names, data)
    print(f"report: {report}")
    return report
