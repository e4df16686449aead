"""The evaluation report: report.json, report.md (mean and median NME per model), a CED plot, mesh pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from frontside.evaluation.evaluate import ModelScores
from frontside.geometry.metrics import ced_plot
from frontside.io import write_atomic
from frontside.pictures import figure_png


def write_report(scores: list[ModelScores], out: str | Path, title: str = "frontside evaluation",
                 dataset: str = "", meshes: list[dict] | None = None) -> dict[str, Path]:
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
        paths["meshes"] = mesh_picture(meshes, out / "meshes.png")
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
    if meshes:
        lines += ["![meshes](meshes.png)", ""]
    paths["markdown"] = _atomic_text(out / "report.md", "\n".join(lines))
    return paths


def mesh_picture(meshes: list[dict], path: Path) -> Path:
    """One row per face: ground truth, then each model's prediction, as depth-shaded point renders (x-y view).

    meshes: [{"face_id": str, "truth": (N, 3), "predictions": {name: (N, 3)}}] in the image frame (y down).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(meshes[0]["predictions"])
    fig, axes = plt.subplots(len(meshes), 1 + len(names), figsize=(2.4 * (1 + len(names)), 2.4 * len(meshes)),
                             squeeze=False)
    for row, item in enumerate(meshes):
        for col, (label, pts) in enumerate([("ground truth", item["truth"])] + list(item["predictions"].items())):
            ax = axes[row, col]
            p = np.asarray(pts)
            order = np.argsort(p[:, 2])
            ax.scatter(p[order, 0], p[order, 1], c=p[order, 2], s=0.3, cmap="viridis")
            ax.set_aspect("equal")
            ax.invert_yaxis()
            ax.axis("off")
            if row == 0:
                ax.set_title(label, fontsize=9)
        axes[row, 0].text(0, 0.5, item["face_id"], transform=axes[row, 0].transAxes, fontsize=7, rotation=90,
                          va="center", ha="right")
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=90))
    plt.close(fig)
    return path


def _atomic_text(path: Path, text: str) -> Path:
    return Path(write_atomic(path, text))
