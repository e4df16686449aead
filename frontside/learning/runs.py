"""A training run's folder and configuration, checked before a step is taken; a run is never overwritten.

`check_run_folder`: `--out` into a folder that holds a run needs `--resume` (continue it) or `--overwrite`
(replace it); `--resume` needs the run's `last.pt`. `check_train_config`: every number and choice of a
`TrainConfig`, without importing torch. `check_training`: those and the inputs (datasets, `--init` or the
resumed checkpoint, which must be this run's network and fit it). `start_run`: what `train()` runs first.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from frontside import checks
from frontside.errors import DataIntegrityError, ParameterError
from frontside.learning.config import TrainConfig, check_parallel, rules
from frontside.learning.networks.registry import NetworkSpec, get_arch

log = logging.getLogger(__name__)

# What a run writes (trainer.py); their presence is what makes a folder "a run"
RUN_FILES = ("best.pt", "last.pt", "metrics.csv", "loss_curve.png")
RUN_FOLDERS = ("tensorboard",)

def check_run_folder(out: str, resume: bool, overwrite: bool) -> Path:
    """The run folder (absolute) when this run may write there; ParameterError naming --out, --resume or
    --overwrite otherwise. Creates nothing."""
    if resume and overwrite:
        raise ParameterError("overwrite", "--resume continues the run in --out, --overwrite replaces it: give one")
    folder = Path(checks.output_folder("out", out))
    if "://" in str(folder):
        raise ParameterError("out", f"{out}: training writes its run to a local folder")
    held = [name for name in RUN_FILES if (folder / name).exists()]
    if resume and not (folder / "last.pt").is_file():
        raise ParameterError("resume", f"{folder / 'last.pt'} does not exist: there is no run to resume "
                                       "(leave out --resume to start one)")
    if held and not resume and not overwrite:
        raise ParameterError("out", f"{folder} already holds a training run ({', '.join(held)}): pass --resume to "
                                    "continue it or --overwrite to replace it")
    return folder


def check_train_config(config) -> None:
    """Every field of a `TrainConfig` (numbers, choices; a field without a rule by its annotation) and the
    run folder; torch is not imported, so a bad number fails at once."""
    checks.record_fields(config, rules())
    check_parallel(config)
    check_run_folder(config.out, config.resume, getattr(config, "overwrite", False))


def check_training_data(data: list[str], val: list[str]) -> None:
    """Every dataset folder of a run (manifest, shards present, uv_regions.png); no torch needed."""
    from frontside.store.dataset import check_dataset_folder

    for name, roots in (("data", data), ("val", val)):
        for root in roots:
            check_dataset_folder(name, root)


def check_training(config) -> None:
    """`check_train_config`, then the inputs: every dataset folder (`check_training_data`), the arch, and the
    checkpoint the run starts from (`--resume`'s last.pt or `--init`), which must be a frontside checkpoint
    whose network is this run's. Torch is imported last, only to check that its weights fit that network."""
    from frontside.learning.checkpoint.validation import check_checkpoint_file
    from frontside.learning.networks.registry import ARCHS

    check_train_config(config)
    check_training_data(config.data, config.val)
    checks.one_of("arch", config.arch, list(ARCHS))
    if config.device.startswith("cuda"):  # torch answers this only
        from frontside.learning.devices import check_device

        check_device(config.device)
    start = Path(config.out) / "last.pt" if config.resume else config.init
    if start:
        state = check_checkpoint_file(start, "resume" if config.resume else "init")
        compatible_state(state, str(start), config)
        from frontside.learning.checkpoint.saving import check_weights_fit  # imports torch

        check_weights_fit(state, start)


def compatible_state(state: dict, path: str, config: TrainConfig) -> dict:
    """`state` if its network is `config`'s (same spec); else an error naming the checkpoint and the field."""
    want, have = config.network_spec(), NetworkSpec.from_dict(state["spec"])
    if not get_arch(want.arch).structured:
        want = NetworkSpec(want.arch, want.width, want.weight_init, want.decoder_norm)
        have = NetworkSpec(have.arch, have.width, have.weight_init, have.decoder_norm)
    if have != want:
        differ = [k for k, v in want.as_dict().items() if have.as_dict()[k] != v]
        raise DataIntegrityError(f"{path}: field 'spec' differs in {', '.join(differ)}: the checkpoint has "
                                 f"{[have.as_dict()[k] for k in differ]}, this run trains {[want.as_dict()[k] for k in differ]}")
    return state


def start_run(config) -> Path:
    """What a training run does first: check its configuration and folder (`check_train_config`), create
    the folder, remove temp files a killed run left there, and with `overwrite` remove the old run's files.
    Returns the run folder."""
    check_train_config(config)
    from frontside.io import remove_stale_temps

    folder = Path(config.out).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temps(folder)
    if removed:
        log.info("%s: removed %d temp file(s) a killed run left (%s)", folder, len(removed), ", ".join(removed))
    if getattr(config, "overwrite", False):
        for name in RUN_FILES:
            (folder / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            shutil.rmtree(folder / name, ignore_errors=True)
    return folder
