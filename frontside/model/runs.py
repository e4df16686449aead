"""A training run's folder and configuration, checked before a step is taken; a run is never overwritten.

`check_run_folder`: `--out` into a folder that holds a run needs `--resume` (continue it) or `--overwrite`
(replace it); `--resume` needs the run's `last.pt`. `check_train_config`: every number and choice of a
`TrainConfig`, without importing torch. `check_training`: those and the inputs (datasets, `--init` or the
resumed checkpoint, which must fit the network). `start_run`: what `train()` runs first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from frontside import checks
from frontside.errors import ParameterError

# What a run writes (training.py); their presence is what makes a folder "a run"
RUN_FILES = ("best.pt", "last.pt", "metrics.csv", "loss_curve.png")
RUN_FOLDERS = ("tensorboard",)
PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = (None, "onecycle", "step")
FUSIONS = ("stack", "siamese", "dual")
WEIGHT_INITS = ("he", "keras")
DECODER_NORMS = (None, "none", "batch")


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


def _fraction(name: str, value: object) -> float:
    value = checks.positive_number(name, value)
    if value >= 1:
        raise ParameterError(name, f"must be between 0 and 1, got {value:g}")
    return value


def _folders(name: str, value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ParameterError(name, f"expected a list of dataset folders, got {value!r}")
    return [checks.text(name, v) for v in value]


def rules() -> dict:
    """The check of each `TrainConfig` field that has one (by name; for `checks.values`)."""
    optional_count = lambda n, v: checks.integer(n, v, minimum=1, optional=True)  # noqa: E731
    return {
        "data": lambda n, v: _folders(n, v) or _required(n),
        "val": _folders,
        "val_fraction": _fraction,
        "epochs": lambda n, v: checks.integer(n, v, minimum=1),
        "batch_size": lambda n, v: checks.integer(n, v, minimum=1),
        "lr": lambda n, v: None if v is None else checks.positive_number(n, v, maximum=1.0),
        "schedule": lambda n, v: checks.one_of(n, v, SCHEDULES),
        "warmup_fraction": lambda n, v: v if v == 0 else _fraction(n, v),
        "weight_decay": lambda n, v: v if v == 0 else checks.positive_number(n, v),
        "shape_weight": lambda n, v: None if v is None or v == 0 else checks.positive_number(n, v),
        "input_size": lambda n, v: checks.integer(n, v, minimum=32, maximum=1024),
        "fusion": lambda n, v: checks.one_of(n, v, FUSIONS),
        "lr_halving_epochs": lambda n, v: checks.integer(n, v, minimum=1),
        "patience": lambda n, v: checks.integer(n, v, minimum=1),
        "workers": lambda n, v: checks.integer(n, v, minimum=0),
        "max_steps_per_epoch": optional_count,
        "max_val_batches": optional_count,
        "shuffle_window": optional_count,
        "seed": lambda n, v: checks.integer(n, v, minimum=0),
        "precision": lambda n, v: checks.one_of(n, v, PRECISIONS),
        "weight_init": lambda n, v: checks.one_of(n, v, WEIGHT_INITS),
        "decoder_norm": lambda n, v: checks.one_of(n, v, DECODER_NORMS),
        "width": lambda n, v: checks.positive_number(n, v, maximum=4.0),
        "arch": lambda n, v: checks.text(n, v),  # which archs exist: `check_training` asks the registry
    }


def _required(name: str):
    raise ParameterError(name, "at least one dataset folder is needed")


def check_train_config(config) -> None:
    """Every field of a `TrainConfig` (numbers, choices; a field without a rule by its annotation) and the
    run folder; torch is not imported, so a bad number fails at once."""
    checks.record_fields(config, rules())
    check_run_folder(config.out, config.resume, getattr(config, "overwrite", False))


def check_training_data(data: list[str], val: list[str]) -> None:
    """Every dataset folder of a run (manifest, shards present, uv_regions.png); no torch needed."""
    from frontside.datasets.manifest import check_dataset_folder

    for name, roots in (("data", data), ("val", val)):
        for root in roots:
            check_dataset_folder(name, root)


def check_training(config) -> None:
    """`check_train_config`, then the inputs: every dataset folder (`check_training_data`), the arch, and the
    checkpoint the run starts from (`--resume`'s last.pt or `--init`), which must be a frontside checkpoint
    whose network is this run's."""
    check_train_config(config)
    check_training_data(config.data, config.val)
    from frontside.model.checks import check_checkpoint
    from frontside.model.registry import ARCHS
    from frontside.model.training import compatible_state

    checks.one_of("arch", config.arch, list(ARCHS))
    start = Path(config.out) / "last.pt" if config.resume else config.init
    if start:
        state = check_checkpoint(start, "resume" if config.resume else "init")
        compatible_state(state, str(start), config)


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
        print(f"{folder}: removed {len(removed)} temp file(s) a killed run left ({', '.join(removed)})")
    if getattr(config, "overwrite", False):
        for name in RUN_FILES:
            (folder / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            shutil.rmtree(folder / name, ignore_errors=True)
    return folder
