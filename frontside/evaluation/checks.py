"""An evaluation's parameters and inputs, checked before any model is run: the CLI calls it before Prefect
starts, the flow as its first task."""

from __future__ import annotations

from frontside import checks
from frontside.errors import ParameterError
from frontside.evaluation.config import EvaluateConfig


def check_evaluation_numbers(out: str, max_faces: int | None) -> str:
    """The parts that need no file read: the report folder and the face budget. Returns `out`, absolute."""
    checks.integer("max_faces", max_faces, minimum=1, optional=True)
    out = checks.output_folder("out", out)
    if "://" in out:
        raise ParameterError("out", f"{out}: the report is written to a local folder")
    return out


def check_evaluation(config: EvaluateConfig) -> None:
    """Every checkpoint usable (`learning.checkpoint.validation`), exactly one test set, each dataset readable with the face model
    it was made with (loaded and checked against its sha256), a Florence root holding scans. The checkpoints are
    read first (no torch), and whether their weights fit their networks (torch) is checked last."""
    from frontside.learning.checkpoint.saving import check_weights_fit
    from frontside.learning.checkpoint.validation import check_checkpoint_file
    from frontside.store.dataset import check_dataset_folder, dataset_model

    checkpoints, data, florence = config.checkpoints, config.data, config.florence
    check_evaluation_numbers(config.out, config.max_faces)
    if not checkpoints:
        raise ParameterError("checkpoints", "at least one checkpoint is needed")
    if bool(data) == bool(florence):
        raise ParameterError("data", "give either shard folders (data) or a MICC Florence root (florence)")
    states = {checkpoint: check_checkpoint_file(checkpoint, "checkpoints") for checkpoint in checkpoints}
    for root in data or []:
        check_dataset_folder("data", root)
        dataset_model(root)
    if florence:
        from frontside.sources.florence import find_scans

        find_scans(checks.input_folder("florence", florence))
    for checkpoint, state in states.items():  # last: the only check that needs torch
        check_weights_fit(state, checkpoint)
