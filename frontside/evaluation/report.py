"""The evaluation report: report.json, report.md (mean and median NME per model), a CED plot, mesh pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from frontside.evaluation.diagnostics import markdown as views_markdown
from frontside.evaluation.evaluate import ModelScores
from frontside.geometry.metrics import ced_plot
from frontside.io import write_atomic
from frontside.pictures import figure_png


def write_report(scores: list[ModelScores], out: str | Path, title: str = "frontside evaluation",
                 dataset: str = "", meshes: list[dict] | None = None, triangles: np.ndarray | None = None,
                 histories: dict[str, dict] | None = None) -> dict[str, Path]:
    """report.json, report.md, ced.png; meshes.png with `meshes` and `triangles` (see `mesh_picture`);
    learning_curves.png with `histories` ({name: {"history": [...], "baselines": {...}}} from checkpoints)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = [s.summary() for s in scores]
    body = {"title": title, "dataset": dataset, "models": summaries,
            "faces": {s.name: [f.__dict__ for f in s.faces] for s in scores}}
    json_path = _atomic_text(out / "report.json", json.dumps(body, indent=1) + "\n")
    ced_path = out / "ced.png"
    ced_plot({s.name: s.icp_errors for s in scores if len(s.faces)}, ced_path, title=f"CED on {dataset or 'test set'}")
    paths = {"json": json_path, "ced": ced_path}
    if meshes:
        paths["meshes"] = mesh_picture(meshes, triangles, out / "meshes.png")
    if histories:
        paths["curves"] = learning_curves(histories, out / "learning_curves.png")
    lines = [f"# {title}", "", f"Test set: `{dataset}`" if dataset else "", "",
             "NME (eq. 5.1): mean point-to-surface distance of the face vertices after a landmark similarity and "
             "rigid ICP, divided by the square root of the aligned prediction's x-y bounding-box area. Exact NME: "
             "same frame, by UV correspondence, no alignment, over the truth's box (synthetic ground truth only). "
             "The mean face is the model's mean shape placed by the same alignment: what no learning scores.", "",
             "| model | arch | faces | mean NME | median NME | mean exact NME |", "|---|---|---|---|---|---|"]
    for s in summaries:
        exact = "–" if s["mean_nme_exact"] is None else f"{s['mean_nme_exact']:.4f}"
        lines.append(f"| {s['name']} | {s['arch'] or '–'} | {s['faces']} | {s['mean_nme']:.4f} | "
                     f"{s['median_nme']:.4f} | {exact} |")
    lines += ["", "![CED](ced.png)", ""]
    for score in scores:
        if score.views:
            picture = f"landmarks-{score.name}.png"
            lines += views_markdown(score.name, score.views, picture if (out / picture).exists() else None)
    if meshes:
        lines += ["Shaded meshes (front and turned), every model's in the same frame as the truth:", "",
                  "![meshes](meshes.png)", ""]
    if histories:
        lines += ["Training: validation loss beside the constant mean position map, and the shape part (after "
                  "similarity alignment) beside the mean face's:", "", "![learning curves](learning_curves.png)", ""]
    paths["markdown"] = _atomic_text(out / "report.md", "\n".join(lines))
    return paths


def mesh_picture(meshes: list[dict], triangles: np.ndarray, path: Path, views: tuple[float, ...] = (0.0, 70.0)
                 ) -> Path:
    """One row per face: the ground truth, then each model's prediction, as shaded meshes seen from the front and
    turned by each of `views` (yaw, degrees); every mesh of a row framed alike (the truth's box), since all are
    in the same front-crop frame.

    meshes: [{"face_id": str, "truth": (N, 3), "predictions": {name: (N, 3)}}] in the image frame (y down);
    triangles: (T, 3) over those N vertices (the face, without the neck).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from frontside.geometry.mesh_pictures import shade_mesh

    names = list(meshes[0]["predictions"])
    columns = [(label, yaw) for label in ["ground truth", *names] for yaw in views]
    fig, axes = plt.subplots(len(meshes), len(columns), figsize=(1.9 * len(columns), 2.0 * len(meshes)),
                             squeeze=False)
    for row, item in enumerate(meshes):
        truth = np.asarray(item["truth"], np.float64)
        centre, extent = (truth.min(0) + truth.max(0)) / 2, float(np.max(np.ptp(truth, axis=0)))
        shapes = {"ground truth": truth, **item["predictions"]}
        for col, (label, yaw) in enumerate(columns):
            ax = axes[row, col]
            ax.imshow(shade_mesh(shapes[label], triangles, 192, yaw=yaw, centre=centre, extent=extent),
                      cmap="gray", vmin=0, vmax=255)
            ax.axis("off")
            if row == 0:
                ax.set_title(f"{label}\nyaw {yaw:+.0f}", fontsize=8)
        axes[row, 0].text(-0.05, 0.5, item["face_id"], transform=axes[row, 0].transAxes, fontsize=7, rotation=90,
                          va="center", ha="right")
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=90))
    plt.close(fig)
    return path


def learning_curves(histories: dict[str, dict], path: Path) -> Path:
    """Per model: validation loss over training steps beside the constant answer's (left), and the shape part
    beside the mean face's (right); each model's baselines are those of its own validation set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, run) in enumerate(histories.items()):
        colour = f"C{i}"
        steps = np.cumsum([h["steps"] for h in run["history"]])
        left.plot(steps, [h["train_loss"] for h in run["history"]], color=colour, alpha=0.35, linestyle=":")
        left.plot(steps, [h["val_loss"] for h in run["history"]], color=colour, marker=".", label=f"{name}")
        right.plot(steps, [h["val_shape_loss"] for h in run["history"]], color=colour, marker=".", label=name)
        base = run.get("baselines") or {}
        if "constant_val_loss" in base:
            left.axhline(base["constant_val_loss"], color=colour, linestyle="--", alpha=0.6,
                         label=f"constant ({name}'s validation)")
        if "mean_face_val_shape_loss" in base:
            right.axhline(base["mean_face_val_shape_loss"], color=colour, linestyle="--", alpha=0.6,
                          label=f"mean face ({name}'s validation)")
    left.set_ylabel("weighted posmap loss (dotted: training objective)")
    right.set_ylabel("after similarity alignment (shape)")
    for ax in (left, right):
        ax.set_xlabel("training steps")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=100))
    plt.close(fig)
    return path


def _atomic_text(path: Path, text: str) -> Path:
    return Path(write_atomic(path, text))
