"""`TrainConfig`: everything a training run depends on (saved in every checkpoint), and the check of each of its
fields (`rules`). Torch-free, so the command line and the flows check a configuration at once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from frontside import checks
from frontside.configs import cli
from frontside.errors import ParameterError
from frontside.learning.networks.options import DECODER_NORMS, FUSIONS
from frontside.learning.networks.registry import ARCHS, NetworkSpec, get_arch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Named variants of an arch, what train-then-evaluate, the demo and the learning benchmark train by name (a run
# folder takes the name): the multi-view network trained on fronts alone is the fair front-only baseline of it.
VARIANTS: dict[str, dict] = {"multiview-front": {"arch": "multiview", "views": 1}}
LR_SCALINGS = ("none", "linear", "sqrt")
REFERENCE_BATCH = 16  # the global batch every arch's recipe learning rate was tuned at (`--lr-scaling`)
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
SCHEDULES = (None, "onecycle", "step")
WEIGHT_INITS = ("he", "keras")


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved in every checkpoint); the flags of `frontside train`. None
    means the arch's own default (`registry.Arch`: lr, schedule, shape_weight, augment)."""

    data: list[str] = field(metadata=cli("shard folder to train on", metavar="DIR"))
    out: str = field(metadata=cli("run folder: best.pt, last.pt, metrics.csv, loss_curve.png, tensorboard/",
                                  metavar="RUN"))
    val: list[str] = field(default_factory=list, metadata=cli(
        "validation shard folder (default: hold out --val-fraction of --data)", metavar="DIR"))
    val_fraction: float = field(default=0.1, metadata=cli("the share of --data held out when no --val is given"))
    arch: str = field(default="twoview", metadata=cli(
        "twoview/frontonly: pose + face-model coefficients (default); *-thesis: table 4.1; prn", choices=ARCHS))
    epochs: int = field(default=50, metadata=cli("epochs (thesis 4.3.3: 50)"))
    batch_size: int = field(default=16, metadata=cli("pairs per step"))
    lr: float | None = field(default=None, metadata=cli(
        "learning rate; default: the arch's (twoview/frontonly 2e-3 one-cycle peak; thesis and prn 1e-4); for "
        "transfer (--init) about a tenth of it"))
    schedule: str | None = field(default=None, metadata=cli(
        "onecycle: AdamW, warm-up then cosine (twoview/frontonly); step: Adam halved every --lr-halving-epochs "
        "(thesis, prn); default: the arch's", choices=SCHEDULES))
    lr_halving_epochs: int = field(default=5, metadata=cli("step schedule: epochs between halvings (thesis 4.3.3)"))
    warmup_fraction: float = field(default=0.15, metadata=cli("onecycle schedule: the share of steps warming up"))
    weight_decay: float = field(default=0.05, metadata=cli(
        "onecycle schedule: AdamW's weight decay (1e-4 before: held-out shape loss 4% higher, NME 0.5%)"))
    shape_weight: float | None = field(default=None, metadata=cli(
        "weight of the loss's pose-free shape term (default: the arch's: 100 for twoview/frontonly, 0 else)"))
    patience: int = field(default=10, metadata=cli("stop after this many epochs without a better validation loss"))
    init: str | None = field(default=None, metadata=cli(
        "start from another run's weights (the transfer step of thesis 4.3.4)", metavar="CKPT"))
    resume: bool = field(default=False, metadata=cli("continue the interrupted run in --out from its last.pt"))
    overwrite: bool = field(default=False, metadata=cli("replace the run already in --out"))
    augment: bool | None = field(default=None, metadata=cli(
        "rotation, colour and occlusion augmentation (default: the arch's: off for twoview/frontonly, whose short "
        "CPU runs learn shape faster without it; on for the thesis networks and prn)"))
    workers: int | None = field(default=None, metadata=cli(
        "DataLoader worker processes per training process (default: sized to the machine: none on a CPU, whose "
        "cores the steps use; on a GPU the cores per process less one, at most 8)"))
    max_steps_per_epoch: int | None = field(default=None, metadata=cli("cap on the steps of an epoch"))
    max_val_batches: int | None = field(default=None, metadata=cli("cap on the validation batches of an epoch"))
    seed: int = field(default=0, metadata=cli("seed of the initialisation, the split and the shuffles"))
    device: str = field(default="auto", metadata=cli(
        "auto (a GPU when there is one), cpu, cuda (each process its own GPU: cuda:LOCAL_RANK), cuda:N"))
    precision: str = field(default="auto", metadata=cli(
        "auto: bf16 autocast where the device runs it natively (CUDA, AVX512-BF16/AMX CPUs), else fp32 (multiview: "
        "fp32; bf16 runs its encoder in bf16); fp16: "
        "float16 autocast with a gradient scaler (GPUs without bf16)", choices=PRECISIONS))
    nproc: int = field(default=1, metadata=cli(
        "training processes on this machine, data-parallel (DistributedDataParallel: gloo on CPUs, nccl on GPUs); "
        "above 1 they are launched as `torchrun --standalone --nproc-per-node N` would. --batch-size stays the "
        "global batch"))
    streams: int | None = field(default=None, metadata=cli(
        "data streams each step's batch is drawn from, each over its own share of the shards; a process reads "
        "streams/nproc of them, so a run's batches depend on this number, not on the process count (default: "
        "--nproc). Must divide --batch-size; --nproc must divide it"))
    stream: bool | None = field(default=None, metadata=cli(
        "read the shards as a stream: each process only its share, shuffled within --shuffle-buffer samples, "
        "memory flat in the dataset's size (default: on for URLs, --nproc above 1, --data-weight, and data whose "
        "decoded samples would not fit the --sample-cache-gib sample cache; never for multiview, which reads every "
        "view's labels from local shards)"))
    sample_cache_gib: float = field(default=2.0, metadata=cli(
        "in-memory training: the bound on the decoded samples kept between epochs, in GiB. Data that fits is "
        "decoded once; past it every epoch decodes its rows again (about 0.31 MB a face for multiview at 128 px "
        "with 3 views: 2 GiB holds ~6,800 faces, 8 GiB ~27,000)"))
    shuffle_buffer: int = field(default=1024, metadata=cli(
        "streaming: the samples a stream shuffles among (across shards; memory: about 0.2 MB a sample at 256)"))
    data_weight: list[float] = field(default_factory=list, metadata=cli(
        "streaming: mix the --data folders with these weights, one per --data in order (e.g. synthetic and "
        "300W-LP, thesis 4.3.4); an epoch is as many samples as all of them hold (default: each sample once)",
        metavar="W"))
    cache_dir: str | None = field(default=None, metadata=cli(
        "local folder caching shards read from URLs (default: $FRONTSIDE_CACHE/shards or "
        "~/.cache/frontside/shards)", metavar="DIR"))
    cache_gb: float = field(default=20.0, metadata=cli("the shard cache's bound on disk, in GB"))
    sync_batchnorm: bool = field(default=True, metadata=cli(
        "with --nproc above 1: batch norm over the global batch (torch's SyncBatchNorm on GPUs, frontside's "
        "all-reduce version on CPUs), so N processes train as one"))
    lr_scaling: str = field(default="none", metadata=cli(
        "the recipe's learning rate (tuned at a global batch of 16) for another --batch-size: none, linear "
        "(x batch/16) or sqrt (x sqrt(batch/16)); an explicit --lr is used as given", choices=LR_SCALINGS))
    compile: bool = field(default=False, metadata=cli("torch.compile the network's training steps"))
    save_every: int | None = field(default=None, metadata=cli(
        "also write last.pt every this many steps within an epoch (a killed run resumes from that step)"))
    width: float = field(default=1.0, metadata=cli("channel multiplier of the thesis networks (1.0: the paper's)"))
    input_size: int | None = field(default=None, metadata=cli(
        "twoview/frontonly/multiview: the encoder's resolution (default: the arch's: 128; multiview 64)"))
    views: int = field(default=3, metadata=cli(
        "multiview: the views of a face each step reads (front, then side views on alternating sides; a dataset "
        "made with generate --views N has N)"))
    view_dropout: float = field(default=0.5, metadata=cli(
        "multiview: the chance that each side view is left out of a step, so one network answers from 1..N views"))
    coefficients_sd: float | None = field(default=None, metadata=cli(
        "multiview: weight of the loss's term asking for each face-model coefficient in the model's standard "
        "deviations (default: `multiview_loss.MultiViewWeights`'; 0 leaves it out)"))
    fusion: str = field(default="stack", metadata=cli(
        "twoview: one encoder on 6 stacked channels, one shared by both views, or one per view", choices=FUSIONS))
    weight_init: str = field(default="he", metadata=cli(
        "thesis/prn: he (default) or keras (the originals' Glorot, under which the decoder starts input-blind)",
        choices=WEIGHT_INITS))
    decoder_norm: str | None = field(default=None, metadata=cli(
        "thesis/prn: none (the thesis's decoder) or batch (PRN's); default: the architecture's own",
        choices=DECODER_NORMS))
    shuffle_window: int | None = field(default=None, metadata=cli(
        "shuffle within runs of this many shards (default: every row when they fit in the shard cache, else as "
        "many shards as fit)"))
    progress: bool = field(default=True, metadata=cli(hidden=True))

    def network_spec(self) -> NetworkSpec:
        return NetworkSpec(arch=self.arch, width=float(self.width), weight_init=self.weight_init,
                           decoder_norm=self.decoder_norm, input_size=self.encoder_size(), fusion=self.fusion)

    def sample_cache_bytes(self) -> int:
        """`sample_cache_gib` in bytes: the in-memory mode's bound on decoded samples."""
        return int(self.sample_cache_gib * 2 ** 30)

    def encoder_size(self) -> int:
        """The encoder's resolution: `input_size`, or the arch's own."""
        return self.input_size if self.input_size is not None else get_arch(self.arch).input_size

    def recipe(self) -> tuple[float, str, float, bool]:
        """(lr, schedule, shape_weight, augment), the arch's defaults where this config leaves them None."""
        arch = get_arch(self.arch)
        schedule = self.schedule or arch.schedule
        if schedule not in SCHEDULES[1:]:
            raise ValueError(f"schedule must be one of {SCHEDULES[1:]}, not {schedule!r}")
        return (self.lr if self.lr is not None else scaled_lr(arch.lr, self.batch_size, self.lr_scaling), schedule,
                self.shape_weight if self.shape_weight is not None else arch.shape_weight,
                self.augment if self.augment is not None else arch.augment)


def scaled_lr(lr: float, batch_size: int, rule: str) -> float:
    """A recipe's learning rate `lr` (tuned at `REFERENCE_BATCH`) for a global batch of `batch_size`."""
    ratio = batch_size / REFERENCE_BATCH
    return lr * {"none": 1.0, "linear": ratio, "sqrt": ratio ** 0.5}[rule]


def _fraction(name: str, value: object) -> float:
    value = checks.positive_number(name, value)
    if value >= 1:
        raise ParameterError(name, f"must be between 0 and 1, got {value:g}")
    return value


def _list_of(what: str, each):
    """The check of a list field whose items `each` checks."""
    def check(name: str, value: object) -> list:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ParameterError(name, f"expected a list of {what}, got {value!r}")
        return [each(name, v) for v in value]
    return check


_folders = _list_of("dataset folders", checks.text)
_weights = _list_of("weights", checks.positive_number)


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
        "input_size": lambda n, v: checks.integer(n, v, minimum=32, maximum=1024, optional=True),
        "views": lambda n, v: checks.integer(n, v, minimum=1, maximum=32),
        "view_dropout": lambda n, v: v if v == 0 else _fraction(n, v),
        "coefficients_sd": lambda n, v: None if v is None or v == 0 else checks.positive_number(n, v, maximum=1.0),
        "fusion": lambda n, v: checks.one_of(n, v, FUSIONS),
        "lr_halving_epochs": lambda n, v: checks.integer(n, v, minimum=1),
        "patience": lambda n, v: checks.integer(n, v, minimum=1),
        "max_steps_per_epoch": optional_count,
        "max_val_batches": optional_count,
        "shuffle_window": optional_count,
        "seed": lambda n, v: checks.integer(n, v, minimum=0),
        "precision": lambda n, v: checks.one_of(n, v, PRECISIONS),
        "weight_init": lambda n, v: checks.one_of(n, v, WEIGHT_INITS),
        "decoder_norm": lambda n, v: checks.one_of(n, v, (None,) + DECODER_NORMS),
        "width": lambda n, v: checks.positive_number(n, v, maximum=4.0),
        "arch": lambda n, v: checks.text(n, v),  # which archs exist: `check_training` asks the registry
        "workers": lambda n, v: checks.integer(n, v, minimum=0, optional=True),
        "device": _device,
        "nproc": lambda n, v: checks.integer(n, v, minimum=1, maximum=1024),
        "streams": optional_count,
        "shuffle_buffer": lambda n, v: checks.integer(n, v, minimum=0),
        "data_weight": _weights,
        "cache_dir": lambda n, v: checks.text(n, v, optional=True),
        "cache_gb": lambda n, v: checks.positive_number(n, v),
        "sample_cache_gib": lambda n, v: checks.positive_number(n, v),
        "lr_scaling": lambda n, v: checks.one_of(n, v, LR_SCALINGS),
        "save_every": optional_count,
    }


def _device(name: str, value: object) -> str:
    if not isinstance(value, str) or not DEVICE.match(value):
        raise ParameterError(name, f"must be auto, cpu, cuda or cuda:N, got {value!r}")
    return value



def check_parallel(config: TrainConfig) -> None:
    """The numbers a data-parallel run needs to agree: --data-weight one per --data, --streams a multiple of
    --nproc and a divisor of --batch-size (`streams` resolved as the run will: --nproc when not given)."""
    if config.data_weight and len(config.data_weight) != len(config.data):
        raise ParameterError("data_weight", f"one weight per --data: {len(config.data)} folders, "
                                            f"{len(config.data_weight)} weights")
    if config.stream is False and (config.nproc > 1 or config.data_weight):
        raise ParameterError("stream", "--no-stream cannot go with " + ("--nproc above 1 (each process streams "
                                       "its share)" if config.nproc > 1 else "--data-weight (mixing streams)"))
    streams = config.streams or config.nproc
    if streams % config.nproc:
        raise ParameterError("streams", f"{streams} streams cannot be shared by {config.nproc} processes "
                                        "(give a multiple of --nproc)")
    if config.batch_size % streams:
        raise ParameterError("batch_size", f"{config.batch_size} is not a multiple of the {streams} data "
                                           "streams (--streams, default --nproc): each stream gives "
                                           "batch/streams samples a step")


def _required(name: str):
    raise ParameterError(name, "at least one dataset folder is needed")


def run_fields(name: str) -> dict:
    """`TrainConfig` fields of a run name: an arch (`registry.ARCHS`) or a named variant of one (`VARIANTS`)."""
    if name in VARIANTS:
        return dict(VARIANTS[name])
    if name not in ARCHS:
        raise ParameterError("archs", f"unknown network {name!r}: choose one of {', '.join([*ARCHS, *VARIANTS])}")
    return {"arch": name}

