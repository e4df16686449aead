"""An evaluation's parameters and inputs, checked before any model is run: the CLI calls it before Prefect
starts, the flow as its first task."""

from __future__ import annotations

from frontside import checks
from frontside.errors import ParameterError


def check_evaluation_numbers(out: str, max_faces: int | None) -> str:
    """The parts that need no file read: the report folder and the face budget. Returns `out`, absolute."""
    checks.integer("max_faces", max_faces, minimum=1, optional=True)
    out = checks.output_folder("out", out)
    if "://" in out:
        raise ParameterError("out", f"{out}: the report is written to a local folder")
    return out


def check_evaluation(checkpoints: list[str], out: str, data: list[str] | None = None, florence: str | None = None,
                     max_faces: int | None = None) -> None:
    """Every checkpoint usable (`model.checks`), exactly one test set, each dataset readable with the face model
    it was made with (loaded and checked against its sha256), a Florence root holding scans. The checkpoints are
    read first (no torch), and whether their weights fit their networks (torch) is checked last."""
    from frontside.datasets.manifest import check_dataset_folder, dataset_model
    from frontside.model.checks import check_checkpoint_file, check_weights_fit

    check_evaluation_numbers(out, max_faces)
    if not checkpoints:
        raise ParameterError("checkpoints", "at least one checkpoint is needed")
    if bool(data) == bool(florence):
        raise ParameterError("data", "give either shard folders (data) or a MICC Florence root (florence)")
    states = {checkpoint: check_checkpoint_file(checkpoint, "checkpoints") for checkpoint in checkpoints}
    for root in data or []:
        check_dataset_folder("data", root)
        dataset_model(root)
    if florence:
        from frontside.datasets.florence import find_scans

        find_scans(checks.input_folder("florence", florence))
    for checkpoint, state in states.items():  # last: the only check that needs torch
        check_weights_fit(state, checkpoint)
