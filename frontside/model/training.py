"""The training of thesis 4.3.3 (synthetic) and 4.3.4 (transfer): Adam, lr halved every 5 epochs,
validation each epoch, early stop after 10 epochs without improvement, best.pt and last.pt, resumable."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from frontside.datasets.torch_dataset import ShardDataset, make_loader
from frontside.io import write_atomic
from frontside.model.checkpoint import load_checkpoint, save_checkpoint
from frontside.model.inference import default_device
from frontside.model.loss import WeightedPosmapLoss, weight_mask_from_regions
from frontside.model.precision import autocast, resolve_precision
from frontside.model.registry import build, get_arch
from frontside.model.runs import start_run
from frontside.pictures import figure_png


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved in every checkpoint)."""

    data: list[str]
    out: str
    val: list[str] = field(default_factory=list)  # empty: hold out `val_fraction` of `data`
    val_fraction: float = 0.1
    arch: str = "twoview"
    epochs: int = 50
    batch_size: int = 16
    lr: float = 1e-4
    lr_halving_epochs: int = 5
    patience: int = 10
    init: str | None = None  # weights of another run (the transfer step of 4.3.4)
    resume: bool = False
    overwrite: bool = False  # replace the run already in `out` (else a folder holding a run needs `resume`)
    augment: bool = True
    workers: int = 0
    max_steps_per_epoch: int | None = None
    max_val_batches: int | None = None
    seed: int = 0
    device: str | None = None
    precision: str = "auto"  # "auto" (bf16 where the device runs it natively), "fp32" or "bf16"
    width: float = 1.0  # channel multiplier; 1.0 is the thesis's network (smaller only for tests)
    weight_init: str = "he"  # "he", or "keras" (Glorot, as the thesis; trains far slower, see networks.initialise)
    decoder_norm: str | None = None  # "none" (thesis), "batch" (PRN); None: the architecture's own
    shuffle_window: int | None = None  # shuffle within runs of this many shards; None: all rows (thesis 4.3.3)
    #                                    when they fit in the shard cache, else as many shards as fit
    progress: bool = True


@dataclass(frozen=True)
class TrainResult:
    run_dir: str
    best_val_loss: float
    epochs_run: int
    best_path: str
    last_path: str
    first_step_loss: float
    last_step_loss: float


def _split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/validation split of n rows (by a hash of the index, stable as data grows)."""
    keys = [hashlib.sha256(f"{seed}:{i}".encode()).digest()[0] / 256.0 for i in range(n)]
    val = [i for i, k in enumerate(keys) if k < fraction] or [n - 1]
    val_set = set(val)
    return [i for i in range(n) if i not in val_set], val


def _datasets(config: TrainConfig, views: str) -> tuple[ShardDataset, ShardDataset]:
    if config.val:
        return (ShardDataset(config.data, views, config.augment, config.seed),
                ShardDataset(config.val, views, False, config.seed))
    everything = ShardDataset(config.data, views, False, config.seed)
    train_idx, val_idx = _split(len(everything), config.val_fraction, config.seed)
    return (ShardDataset(config.data, views, config.augment, config.seed, indices=train_idx),
            ShardDataset(config.data, views, False, config.seed, indices=val_idx))


def _loss_curve(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("weighted posmap loss")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=100))
    plt.close(fig)


def train(config: TrainConfig) -> TrainResult:
    """Train one network; returns where its checkpoints are and how it went."""
    start_run(config)  # checks numbers and the folder: never overwrites a run unless asked; clears a crash's temps
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = torch.device(config.device) if config.device else default_device()
    arch = get_arch(config.arch)
    run = Path(config.out)
    run.mkdir(parents=True, exist_ok=True)
    best_path, last_path = run / "best.pt", run / "last.pt"

    train_set, val_set = _datasets(config, arch.views)
    network = build(config.arch, config.width, config.weight_init, config.decoder_norm).to(device).to(memory_format=torch.channels_last)
    precision = resolve_precision(device, config.precision)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_halving_epochs, gamma=0.5)
    loss_fn = WeightedPosmapLoss(weight_mask_from_regions(train_set.uv_regions())).to(device)

    start_epoch, best_val, history = 0, float("inf"), []
    if config.resume and last_path.exists():
        state = compatible_state(load_checkpoint(last_path, device), str(last_path), config)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_val, history = state["epoch"], state["best_val"], state["history"]
    elif config.init:
        network.load_state_dict(compatible_state(load_checkpoint(config.init, device), config.init, config)["model"])

    window = config.shuffle_window
    if window is None and not train_set.fits_in_cache():
        window = train_set.shards_per_window()  # a full shuffle would re-read a whole shard for most rows
        print(f"{config.arch}: training data exceeds the shard cache; shuffling within windows of {window} shards")
    loader = make_loader(train_set, config.batch_size, shuffle=True, workers=config.workers, seed=config.seed,
                         drop_last=len(train_set) > config.batch_size, window=window)
    val_loader = make_loader(val_set, config.batch_size, workers=config.workers)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run / "tensorboard"))
    first_step_loss = last_step_loss = float("nan")
    epochs_without_improvement = 0
    if history:
        best_epoch = min(history, key=lambda h: h["val_loss"])["epoch"]
        epochs_without_improvement = history[-1]["epoch"] - best_epoch
    epoch = start_epoch
    for epoch in range(start_epoch + 1, config.epochs + 1):
        loader.sampler.set_epoch(epoch)
        network.train()
        losses = []
        started = time.perf_counter()
        total = len(loader) if config.max_steps_per_epoch is None else min(len(loader), config.max_steps_per_epoch)
        bar = tqdm(loader, total=total, desc=f"{config.arch} epoch {epoch}", unit="batch",
                   disable=not config.progress, leave=False)
        for step, (x, y) in enumerate(bar):
            if step >= total:
                break
            x, y = x.to(device).to(memory_format=torch.channels_last), y.to(device)
            with autocast(device, precision):
                loss = loss_fn(network(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if np.isnan(first_step_loss):
                first_step_loss = value
            last_step_loss = value
            losses.append(value)
            bar.set_postfix(loss=f"{value:.5f}")
        bar.close()
        scheduler.step()
        val_loss = evaluate_loss(network, val_loader, loss_fn, device, config.max_val_batches, precision)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                  "val_loss": val_loss, "lr": optimizer.param_groups[0]["lr"],
                  "seconds": time.perf_counter() - started, "steps": len(losses), "precision": precision}
        history.append(record)
        writer.add_scalar("loss/train", record["train_loss"], epoch)
        writer.add_scalar("loss/val", val_loss, epoch)
        writer.add_scalar("lr", record["lr"], epoch)
        improved = val_loss < best_val
        if improved:
            best_val, epochs_without_improvement = val_loss, 0
        else:
            epochs_without_improvement += 1
        kwargs = dict(arch=config.arch, width=config.width, decoder_norm=network.decoder_norm, model=network, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                      best_val=best_val, config=_plain(asdict(config)), history=history)
        save_checkpoint(last_path, **kwargs)
        if improved:
            save_checkpoint(best_path, **kwargs)
        _write_metrics(run / "metrics.csv", history)
        if config.progress:
            print(f"{config.arch} epoch {epoch}: train {record['train_loss']:.5f}  val {val_loss:.5f}"
                  f"{'  (best)' if improved else ''}")
        if epochs_without_improvement >= config.patience:
            print(f"{config.arch}: early stop, no improvement for {config.patience} epochs")
            break
    writer.close()
    if history:
        _loss_curve(history, run / "loss_curve.png")
    return TrainResult(str(run), best_val, epoch, str(best_path), str(last_path), first_step_loss, last_step_loss)


@torch.no_grad()
def evaluate_loss(network, loader, loss_fn, device, max_batches: int | None = None, precision: str = "fp32"
                  ) -> float:
    """Mean loss per sample over `loader` (at most `max_batches` batches), the network in eval mode."""
    network.eval()
    total, count = 0.0, 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        with autocast(device, precision):
            prediction = network(x.to(device).to(memory_format=torch.channels_last))
        total += float(loss_fn(prediction.float(), y.to(device))) * len(x)
        count += len(x)
    return total / max(count, 1)


def compatible_state(state: dict, path: str, config: TrainConfig) -> dict:
    """`state` if its network is `config`'s (arch and width); else an error naming the checkpoint and field."""
    from frontside.errors import DataIntegrityError

    want = (config.arch, float(config.width), config.decoder_norm or get_arch(config.arch).decoder_norm)
    have = (state["arch"], float(state.get("width", 1.0)), state.get("decoder_norm"))
    if have != want:
        raise DataIntegrityError(f"{path}: fields 'arch'/'width'/'decoder_norm' are {have}, this run trains {want}")
    return state


def _plain(d: dict) -> dict:
    """Only JSON-like values, so the checkpoint loads with weights_only=True."""
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else [str(x) for x in v]
                if isinstance(v, (list, tuple)) else str(v)) for k, v in d.items()}


def _write_metrics(path: Path, history: list[dict]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomic(path, text.getvalue())
