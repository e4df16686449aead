"""The training of thesis 4.3.3 (synthetic) and 4.3.4 (transfer), for every network in `registry.ARCHS`.

Each arch brings its recipe: frontside's structured networks train with AdamW under a one-cycle schedule (warm-up,
then cosine decay) on the weighted posmap loss plus its pose-free shape term; the thesis's and PRN's networks with
Adam at 1e-4 halved every 5 epochs on the weighted loss alone, as the thesis did. Validation each epoch (beside
two fixed answers: the constant mean position map and the mean face posed by a similarity), early stop after
`patience` epochs without improvement, best.pt and last.pt, resumable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from frontside.datasets.network_io import posmap_target
from frontside.datasets.torch_dataset import ShardDataset, make_loader
from frontside.errors import DataIntegrityError
from frontside.facemodel.uv_basis import UVBasis, uv_basis
from frontside.io import write_atomic
from frontside.model.checkpoint import load_checkpoint, save_checkpoint
from frontside.model.inference import default_device
from frontside.model.loss import (
    ShapeAndPoseLoss,
    WeightedPosmapLoss,
    similarity_align,
    weight_mask_from_regions,
)
from frontside.model.precision import autocast, resolve_precision
from frontside.model.registry import build, get_arch
from frontside.model.runs import TrainConfig, compatible_state, start_run
from frontside.model.structured import TRAIN_STRIDE
from frontside.pictures import figure_png


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


def _datasets(config: TrainConfig, views: str, input_size: int | None, target_stride: int
              ) -> tuple[ShardDataset, ShardDataset]:
    """(training set, whose targets keep every `target_stride`-th row and column; validation set, whole targets)."""
    augment = config.recipe()[3]
    if config.val:
        return (ShardDataset(config.data, views, augment, config.seed, input_size=input_size,
                             target_stride=target_stride),
                ShardDataset(config.val, views, False, config.seed, input_size=input_size))
    everything = ShardDataset(config.data, views, False, config.seed)
    train_idx, val_idx = _split(len(everything), config.val_fraction, config.seed)
    return (ShardDataset(config.data, views, augment, config.seed, indices=train_idx, input_size=input_size,
                         target_stride=target_stride),
            ShardDataset(config.data, views, False, config.seed, indices=val_idx, input_size=input_size))


def dataset_basis(roots: list[str], uv_regions: np.ndarray) -> tuple[UVBasis, str]:
    """(the UV basis of the face model the datasets were made with, at their posmap size; its model spec).

    The spec comes from the first dataset's manifest; the basis's region map must be the datasets' own
    `uv_regions.png` (otherwise the manifest names a different model than the one the posmaps were made with)."""
    from frontside.evaluation.evaluate import dataset_model_spec
    from frontside.facemodel import load_model

    spec = dataset_model_spec(roots[0])
    basis = uv_basis(load_model(spec), size=int(uv_regions.shape[0]))
    if not np.array_equal(basis.regions, uv_regions):
        raise DataIntegrityError(f"{roots[0]}: uv_regions.png is not the UV layout of the model its manifest "
                                 f"names ({spec!r}): {int((basis.regions != uv_regions).sum())} pixels differ")
    return basis, spec


def _loss_curve(history: list[dict], baselines: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = [h["epoch"] for h in history]
    left.plot(epochs, [h["train_loss"] for h in history], marker=".", label="train (objective)")
    left.plot(epochs, [h["val_loss"] for h in history], marker=".", label="validation")
    if baselines.get("constant_val_loss"):
        left.axhline(baselines["constant_val_loss"], color="grey", linestyle="--", label="constant mean posmap")
    left.set_ylabel("weighted posmap loss")
    right.plot(epochs, [h["val_shape_loss"] for h in history], marker=".", color="C1",
               label="validation, after similarity alignment")
    if baselines.get("mean_face_val_shape_loss"):
        right.axhline(baselines["mean_face_val_shape_loss"], color="grey", linestyle="--", label="mean face")
    right.set_ylabel("weighted posmap loss, pose removed (shape)")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    write_atomic(path, figure_png(fig, dpi=100))
    plt.close(fig)


def _optimizer(network: torch.nn.Module, config: TrainConfig, lr: float, schedule: str, steps_per_epoch: int):
    """(optimizer, scheduler, whether the scheduler steps per batch)."""
    if schedule == "step":
        optimizer = torch.optim.Adam(network.parameters(), lr=lr)
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, config.lr_halving_epochs, gamma=0.5), False
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=config.weight_decay)
    total = max(2, config.epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total,
                                                    pct_start=config.warmup_fraction, anneal_strategy="cos")
    return optimizer, scheduler, True


def _mean_posmap(dataset: ShardDataset, count: int = 64) -> torch.Tensor:
    """(3, S, S): the mean whole target over the first `count` rows as stored (the constant answer)."""
    targets = [posmap_target(dataset.pair(i).posmap) for i in range(min(count, len(dataset)))]
    return torch.stack(targets).mean(0)


def train(config: TrainConfig) -> TrainResult:
    """Train one network; returns where its checkpoints are and how it went."""
    start_run(config)  # checks numbers and the folder: never overwrites a run unless asked; clears a crash's temps
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = torch.device(config.device) if config.device else default_device()
    arch = get_arch(config.arch)
    lr, schedule, shape_weight, _ = config.recipe()
    run = Path(config.out)
    run.mkdir(parents=True, exist_ok=True)
    best_path, last_path = run / "best.pt", run / "last.pt"

    input_size = config.input_size if arch.structured else None
    # structured networks train on every t-th posmap row and column (`PosedBasis`): a third of a step's time, and
    # the training set's sample cache holds a quarter of each posmap
    stride = TRAIN_STRIDE if arch.structured else 1
    train_set, val_set = _datasets(config, arch.views, input_size, stride)
    uv_regions = train_set.uv_regions()
    basis, model_spec = dataset_basis(config.data, uv_regions)
    network = build(config.network_spec(), basis)
    weight_mask = weight_mask_from_regions(uv_regions)
    mean_target = _mean_posmap(train_set)
    if arch.structured:
        network.start_at(mean_target[None] * (1.1 * basis.size), torch.from_numpy(weight_mask))
    network = network.to(device).to(memory_format=torch.channels_last)
    precision = resolve_precision(device, config.precision)
    posmap_loss = WeightedPosmapLoss(weight_mask).to(device)
    objective = ShapeAndPoseLoss(weight_mask[::stride, ::stride], shape_weight).to(device)

    window = config.shuffle_window
    if window is None and not train_set.fits_in_cache():
        window = train_set.shards_per_window()  # a full shuffle would re-read a whole shard for most rows
        print(f"{config.arch}: training data exceeds the shard cache; shuffling within windows of {window} shards")
    loader = make_loader(train_set, config.batch_size, shuffle=True, workers=config.workers, seed=config.seed,
                         drop_last=len(train_set) > config.batch_size, window=window)
    val_loader = make_loader(val_set, config.batch_size, workers=config.workers)
    steps_per_epoch = len(loader) if config.max_steps_per_epoch is None else min(len(loader),
                                                                                 config.max_steps_per_epoch)
    optimizer, scheduler, per_batch = _optimizer(network, config, lr, schedule, steps_per_epoch)

    start_epoch, best_val, history, baselines = 0, float("inf"), [], {}
    if config.resume and last_path.exists():
        state = compatible_state(load_checkpoint(last_path, device), str(last_path), config)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_val, history = state["epoch"], state["best_val"], state["history"]
        baselines = state["config"].get("baselines", {})
    elif config.init:
        network.load_state_dict(compatible_state(load_checkpoint(config.init, device), config.init, config)["model"])
    if not baselines:
        baselines = validation_baselines(val_loader, mean_target, basis, posmap_loss, device,
                                         config.max_val_batches)

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run / "tensorboard"))
    first_step_loss = last_step_loss = float("nan")
    epochs_without_improvement = 0
    if history:
        best_epoch = min(history, key=lambda h: h["val_objective"])["epoch"]
        epochs_without_improvement = history[-1]["epoch"] - best_epoch
    epoch = start_epoch
    for epoch in range(start_epoch + 1, config.epochs + 1):
        loader.sampler.set_epoch(epoch)
        network.train()
        losses = []
        started = time.perf_counter()
        bar = tqdm(loader, total=steps_per_epoch, desc=f"{config.arch} epoch {epoch}", unit="batch",
                   disable=not config.progress, leave=False)
        for step, (x, y) in enumerate(bar):
            if step >= steps_per_epoch:
                break
            x, y = x.to(device).to(memory_format=torch.channels_last), y.to(device)
            with autocast(device, precision):
                loss = objective((network(x, coarse=True) if stride > 1 else network(x)).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            value = float(loss.detach())
            if np.isnan(first_step_loss):
                first_step_loss = value
            last_step_loss = value
            losses.append(value)
            bar.set_postfix(loss=f"{value:.5f}")
        bar.close()
        if not per_batch:
            scheduler.step()
        val = evaluate_losses(network, val_loader, posmap_loss, device, config.max_val_batches, precision)
        val_objective = val["val_loss"] + shape_weight * val["val_shape_loss"]
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"), **val,
                  "val_objective": val_objective, "lr": optimizer.param_groups[0]["lr"],
                  "seconds": time.perf_counter() - started, "steps": len(losses), "precision": precision}
        history.append(record)
        for key in ("train_loss", "val_loss", "val_shape_loss", "lr"):
            writer.add_scalar(key.replace("_loss", "").replace("val_shape", "val/shape"), record[key], epoch)
        improved = val_objective < best_val
        if improved:
            best_val, epochs_without_improvement = val_objective, 0
        else:
            epochs_without_improvement += 1
        kwargs = dict(model=network, model_spec=model_spec, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                      best_val=best_val, config={**_plain(asdict(config)), "baselines": baselines},
                      history=history)
        save_checkpoint(last_path, **kwargs)
        if improved:
            save_checkpoint(best_path, **kwargs)
        _write_metrics(run / "metrics.csv", history)
        if config.progress:
            print(f"{config.arch} epoch {epoch}: train {record['train_loss']:.3g}  val {val['val_loss']:.3g} "
                  f"(constant {baselines['constant_val_loss']:.3g})  val shape {val['val_shape_loss']:.3g} "
                  f"(mean face {baselines['mean_face_val_shape_loss']:.3g}){'  (best)' if improved else ''}")
        if epochs_without_improvement >= config.patience:
            print(f"{config.arch}: early stop, no improvement for {config.patience} epochs")
            break
    writer.close()
    if history:
        _loss_curve(history, baselines, run / "loss_curve.png")
    return TrainResult(str(run), best_val, epoch, str(best_path), str(last_path), first_step_loss, last_step_loss)


@torch.no_grad()
def evaluate_losses(network, loader, posmap_loss: WeightedPosmapLoss, device, max_batches: int | None = None,
                    precision: str = "fp32") -> dict:
    """{"val_loss", "val_shape_loss"}: mean weighted posmap loss per sample over `loader` (at most `max_batches`
    batches), as is and after aligning each prediction to its target by a similarity; network in eval mode."""
    network.eval()
    total, shape, count = 0.0, 0.0, 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        with autocast(device, precision):
            prediction = network(x.to(device).to(memory_format=torch.channels_last)).float()
        y = y.to(device)
        total += float(posmap_loss(prediction, y)) * len(x)
        shape += float(posmap_loss(similarity_align(prediction, y, posmap_loss.weights), y)) * len(x)
        count += len(x)
    return {"val_loss": total / max(count, 1), "val_shape_loss": shape / max(count, 1)}


@torch.no_grad()
def validation_baselines(loader, mean_target: torch.Tensor, basis: UVBasis, posmap_loss: WeightedPosmapLoss,
                         device, max_batches: int | None = None) -> dict:
    """What two fixed answers score on the validation set: the constant mean position map (`val_loss`) and the
    model's mean face placed on each target by a similarity (`val_shape_loss`; a network must beat it on shape)."""
    from frontside.model.structured import PosedBasis

    geometry = PosedBasis(basis)
    frontal = torch.tensor([[1.0, 0, 0, 0, 1, 0, float(np.log(0.6)), 0, 0]])
    mean_face = geometry(frontal, torch.zeros(1, geometry.n_components)) / (1.1 * basis.size)
    constant, shape, count = 0.0, 0.0, 0
    for i, (_, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        y = y.to(device)
        constant += float(posmap_loss(mean_target.to(device).expand_as(y), y)) * len(y)
        aligned = similarity_align(mean_face.to(device).expand_as(y), y, posmap_loss.weights)
        shape += float(posmap_loss(aligned, y)) * len(y)
        count += len(y)
    return {"constant_val_loss": constant / max(count, 1), "mean_face_val_shape_loss": shape / max(count, 1)}


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
