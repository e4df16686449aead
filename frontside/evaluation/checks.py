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
    it was made with (loaded and checked against its sha256), a Florence root holding scans, an AFLW2000-3D root
    whose annotations all read (and one-view networks for it; its fits' counts fit the BFM given). The checkpoints are
    read first (no torch), and whether their weights fit their networks (torch) is checked last."""
    from frontside.learning.ensemble import check_checkpoints, checkpoint_members
    from frontside.store.dataset import check_dataset_folder, dataset_model

    checkpoints, data, florence, aflw2000 = config.checkpoints, config.data, config.florence, config.aflw2000
    check_evaluation_numbers(config.out, config.max_faces)
    if not checkpoints:
        raise ParameterError("checkpoints", "at least one checkpoint is needed")
    if sum(map(bool, (data, florence, aflw2000))) != 1:
        raise ParameterError("data", "give one test set: shard folders (data), a MICC Florence root (florence) or "
                                     "an AFLW2000-3D root (aflw2000)")
    if config.model is not None and not aflw2000:
        raise ParameterError("model", "goes with aflw2000 (the BFM of its fits, for the dense NME)")
    if config.model is not None and not config.model.startswith("bfm:"):
        raise ParameterError("model", f"{config.model!r}: the BFM the AFLW2000-3D fits were made with, "
                                      "bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]")
    states = {member: state for spec in checkpoints  # an ensemble ("a.pt+b.pt"): each of its networks
              for member, state in zip(checkpoint_members(spec), check_checkpoints(spec, "checkpoints"))}
    if aflw2000:
        from frontside.learning.networks.registry import get_arch
        from frontside.sources.aflw2000 import find_samples, read_sample

        for checkpoint, state in states.items():
            if get_arch(state["spec"]["arch"]).views == "both":
                raise ParameterError("checkpoints", f"{checkpoint} is a two-view network ({state['spec']['arch']}): "
                                                    "AFLW2000-3D has one photo per face; give a network that reads "
                                                    "one (frontonly, multiview, frontonly-thesis, prn)")
        photos = find_samples(checks.input_folder("aflw2000", aflw2000))[:config.max_faces]
        for photo in photos:  # every annotation read and checked before any network runs
            read_sample(photo)
        if config.model is not None:
            from frontside.facemodel import load_model

            model = load_model(config.model)
            sample = read_sample(photos[0])
            sample.dense_truth(model)  # coefficient counts against the model
    for root in data or []:
        check_dataset_folder("data", root)
        dataset_model(root)
    if florence:
        from frontside.sources.florence import find_scans

        find_scans(checks.input_folder("florence", florence))
    from frontside.learning.checkpoint.saving import check_weights_fit  # imports torch

    for checkpoint, state in states.items():  # last: the only check that needs torch
        check_weights_fit(state, checkpoint)
