"""A training run's folder and configuration, checked before a step is taken; a run is never overwritten.

`TrainConfig`: everything a run depends on (here, not in training.py, so it is checked without torch).
`check_run_folder`: `--out` into a folder that holds a run needs `--resume` (continue it) or `--overwrite`
(replace it); `--resume` needs the run's `last.pt`. `check_train_config`: every number and choice of a
`TrainConfig`, without importing torch. `check_training`: those and the inputs (datasets, `--init` or the
resumed checkpoint, which must be this run's network and fit it). `start_run`: what `train()` runs first.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from frontside import checks
from frontside.errors import DataIntegrityError, ParameterError
from frontside.model.registry import NetworkSpec, get_arch

# What a run writes (training.py); their presence is what makes a folder "a run"
RUN_FILES = ("best.pt", "last.pt", "metrics.csv", "loss_curve.png")
RUN_FOLDERS = ("tensorboard",)
PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = (None, "onecycle", "step")
FUSIONS = ("stack", "siamese", "dual")
WEIGHT_INITS = ("he", "keras")
DECODER_NORMS = (None, "none", "batch")


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved in every checkpoint). None means the arch's own default
    (`registry.Arch`: lr, schedule, shape_weight)."""

    data: list[str]
    out: str
    val: list[str] = field(default_factory=list)  # empty: hold out `val_fraction` of `data`
    val_fraction: float = 0.1
    arch: str = "twoview"
    epochs: int = 50
    batch_size: int = 16
    lr: float | None = None  # twoview/frontonly 2e-3 (one-cycle peak); thesis networks and prn 1e-4
    schedule: str | None = None  # "onecycle" (AdamW, warm-up then cosine) or "step" (Adam, halved every N epochs)
    lr_halving_epochs: int = 5  # "step" only (thesis 4.3.3)
    warmup_fraction: float = 0.15  # "onecycle" only
    weight_decay: float = 0.05  # "onecycle" only (AdamW; 1e-4 before: held-out shape loss 4% higher, NME 0.5%)
    shape_weight: float | None = None  # weight of the pose-free shape term (`loss.ShapeAndPoseLoss`)
    patience: int = 10
    init: str | None = None  # weights of another run (the transfer step of 4.3.4)
    resume: bool = False
    overwrite: bool = False  # replace the run already in `out` (else a folder holding a run needs `resume`)
    augment: bool | None = None  # None: the arch's default (structured networks off, thesis networks on)
    workers: int = 0
    max_steps_per_epoch: int | None = None
    max_val_batches: int | None = None
    seed: int = 0
    device: str | None = None
    precision: str = "auto"  # "auto" (bf16 where the device runs it natively), "fp32" or "bf16"
    width: float = 1.0  # channel multiplier (thesis networks: 1.0 is the paper's)
    input_size: int = 128  # structured networks: the encoder's resolution
    fusion: str = "stack"  # structured two-view: "stack", "siamese" or "dual" (FUSIONS)
    weight_init: str = "he"  # thesis/PRN: "he", or "keras" (Glorot, as the originals; see networks.initialise)
    decoder_norm: str | None = None  # thesis/PRN: "none" (thesis), "batch" (PRN); None: the architecture's own
    shuffle_window: int | None = None  # shuffle within runs of this many shards; None: all rows (thesis 4.3.3)
    #                                    when they fit in the shard cache, else as many shards as fit
    progress: bool = True

    def network_spec(self) -> NetworkSpec:
        return NetworkSpec(arch=self.arch, width=float(self.width), weight_init=self.weight_init,
                           decoder_norm=self.decoder_norm, input_size=self.input_size, fusion=self.fusion)

    def recipe(self) -> tuple[float, str, float, bool]:
        """(lr, schedule, shape_weight, augment), the arch's defaults where this config leaves them None."""
        arch = get_arch(self.arch)
        schedule = self.schedule or arch.schedule
        if schedule not in SCHEDULES[1:]:
            raise ValueError(f"schedule must be one of {SCHEDULES[1:]}, not {schedule!r}")
        return (self.lr if self.lr is not None else arch.lr, schedule,
                self.shape_weight if self.shape_weight is not None else arch.shape_weight,
                self.augment if self.augment is not None else arch.augment)


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
    whose network is this run's. Torch is imported last, only to check that its weights fit that network."""
    from frontside.model.checks import check_checkpoint_file, check_weights_fit
    from frontside.model.registry import ARCHS

    check_train_config(config)
    check_training_data(config.data, config.val)
    checks.one_of("arch", config.arch, list(ARCHS))
    start = Path(config.out) / "last.pt" if config.resume else config.init
    if start:
        state = check_checkpoint_file(start, "resume" if config.resume else "init")
        compatible_state(state, str(start), config)
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
        print(f"{folder}: removed {len(removed)} temp file(s) a killed run left ({', '.join(removed)})")
    if getattr(config, "overwrite", False):
        for name in RUN_FILES:
            (folder / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            shutil.rmtree(folder / name, ignore_errors=True)
    return folder
