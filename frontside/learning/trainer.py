"""The training of thesis 4.3.3 (synthetic) and 4.3.4 (transfer), for every network in `registry.ARCHS`.

Each arch brings its recipe: frontside's structured networks train with AdamW under a one-cycle schedule (warm-up,
then cosine decay) on the weighted posmap loss plus its pose-free shape term; the thesis's and PRN's networks with
Adam at 1e-4 halved every 5 epochs on the weighted loss alone, as the thesis did. Validation each epoch (beside
two fixed answers: the constant mean position map and the mean face posed by a similarity), early stop after
`patience` epochs without improvement, best.pt and last.pt, resumable.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from frontside.errors import DataIntegrityError
from frontside.facemodel.uv_basis import UVBasis, uv_basis
from frontside.io import write_atomic
from frontside.learning import distributed
from frontside.learning.checkpoint.saving import load_checkpoint, save_checkpoint
from frontside.learning.config import TrainConfig
from frontside.learning.data import ShardDataset, make_loader
from frontside.learning.devices import compiled, loader_workers, pin_memory, resolve_device, set_threads
from frontside.learning.loss import (
    ShapeAndPoseLoss,
    WeightedPosmapLoss,
    similarity_align,
    weight_mask_from_regions,
)
from frontside.learning.network_io import posmap_scale, posmap_target
from frontside.learning.networks.registry import build, get_arch
from frontside.learning.networks.structured import TRAIN_STRIDE
from frontside.learning.precision import autocast, grad_scaler, resolve_precision
from frontside.learning.runs import check_train_config, compatible_state, start_run
from frontside.learning.streaming import holdout_split, run_layout, stream_run_data
from frontside.learning.world import world_from_env
from frontside.pictures import figure_png

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run_dir: str
    best_val_loss: float
    epochs_run: int
    best_path: str
    last_path: str
    first_step_loss: float
    last_step_loss: float


_split = holdout_split


def _datasets(config: TrainConfig, views: str, input_size: int | None, target_stride: int, labels: bool = False
              ) -> tuple[ShardDataset, ShardDataset]:
    """(training set, whose targets keep every `target_stride`-th row and column; validation set, whole targets),
    each keeping up to `config.sample_cache_gib` of decoded samples."""
    augment = config.recipe()[3]

    def faces(roots: list[str], training: bool, indices=None) -> ShardDataset:
        more = dict(target_stride=target_stride, labels=labels) if training else {}
        return ShardDataset(roots, views, augment and training, config.seed, indices=indices, input_size=input_size,
                            sample_cache_bytes=config.sample_cache_bytes(), **more)

    if config.val:
        return faces(config.data, True), faces(config.val, False)
    everything = ShardDataset(config.data, views, False, config.seed)
    train_idx, val_idx = _split(len(everything), config.val_fraction, config.seed)
    return faces(config.data, True, train_idx), faces(config.data, False, val_idx)


def dataset_basis(roots: list[str], uv_regions: np.ndarray) -> tuple[UVBasis, str]:
    """(the UV basis of the face model the datasets were made with, at their posmap size; its model spec).

    The spec comes from the first dataset's manifest; the basis's region map must be the datasets' own
    `uv_regions.png` (otherwise the manifest names a different model than the one the posmaps were made with)."""
    from frontside.facemodel import load_model
    from frontside.store.dataset import dataset_model_spec

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
    targets = [posmap_target(dataset.face(i).posmap) for i in range(min(count, len(dataset)))]
    return torch.stack(targets).mean(0)


class Trainer:
    """One training run, in the steps a reader looks for: `__init__` sets up (seeds, data, network, loss,
    optimiser, the resumed or initial weights, the baselines), `run` trains epoch by epoch (`train_epoch`,
    `validate`, `save`, early stop) and returns where the checkpoints are.

    config: the run's `TrainConfig` (checked and its folder prepared by `runs.start_run`).
    """

    def __init__(self, config: TrainConfig):
        self.world = world_from_env()  # torchrun's processes, or this one alone
        if self.world.main:
            start_run(config)  # checks numbers and the folder: never overwrites a run unless asked; clears temps
        else:
            check_train_config(config)
        self.device = resolve_device(config.device, self.world)
        self.own_group = self.world.distributed and not torch.distributed.is_initialized()
        distributed.start(self.world, self.device)  # every rank has passed start_run once this returns
        set_threads(self.world, self.device)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        self.config = config
        self.arch = get_arch(config.arch)
        self.lr, self.schedule, self.shape_weight, _ = config.recipe()
        self.run_dir = Path(config.out)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.best_path, self.last_path = self.run_dir / "best.pt", self.run_dir / "last.pt"
        self._data()
        self._network()
        self._optimiser()
        self.start_epoch, self.best_val, self.history, self.baselines = 0, float("inf"), [], {}
        self.start_step, self.epoch_losses = 0, []  # where a run saved mid-epoch stands in its next epoch
        self._restore()
        self._parallel()
        if not self.baselines:
            self.baselines = validation_baselines(self.val_loader, self.mean_target, self.basis, self.posmap_loss,
                                                  self.device, config.max_val_batches, distributed.sum_over_ranks)

    def _data(self) -> None:
        """The training and validation sets and loaders; the face model's UV basis they answer in."""
        config, arch = self.config, self.arch
        input_size = config.encoder_size() if arch.structured else None
        # a multi-view network validates on the front and a side (on the front alone when it trains on fronts)
        views = ("both" if config.views > 1 else "front") if arch.views == "any" else arch.views
        # structured networks train on every t-th posmap row and column (`PosedBasis`): a third of a step's time,
        # and the training set's sample cache holds a quarter of each posmap
        self.stride = TRAIN_STRIDE if arch.structured else 1
        self.workers = loader_workers(config.workers, self.device, self.world)
        multiview = arch.objective == "multiview"
        self.streaming, self.streams = run_layout(config, self.world, self.last_path, views, input_size,
                                                  self.stride, labels=multiview)
        if self.streaming:
            if multiview:
                raise DataIntegrityError(f"{config.data[0]}: {config.arch} reads every view's labels, which "
                                         "streamed training does not: train from local shards in one process "
                                         "(--no-stream)")
            self._stream_data(input_size)
            return
        self.train_set, self.val_set = _datasets(config, views, input_size, self.stride, labels=multiview)
        self.uv_regions = self.train_set.uv_regions()
        self.basis, self.face_model_spec = dataset_basis(config.data, self.uv_regions)
        window = config.shuffle_window
        if window is None and not self.train_set.fits_in_cache():
            window = self.train_set.shards_per_window()  # a full shuffle would re-read a whole shard for most rows
            log.info("%s: training data exceeds the shard cache; shuffling within windows of %d shards",
                     config.arch, window)
        steps_on = self.train_set
        if arch.objective == "multiview":  # every view of a face and a target in each (`multiview_data`)
            from frontside.learning.data import MultiViewDataset
            from frontside.learning.multiview_data import ViewTargets

            steps_on = ViewTargets(MultiViewDataset(self.train_set), self.basis, config.views,
                                   config.view_dropout, config.seed)
        self.loader = make_loader(steps_on, config.batch_size, shuffle=True, workers=self.workers,
                                  seed=config.seed, drop_last=len(self.train_set) > config.batch_size, window=window)
        self.val_loader = make_loader(self.val_set, config.batch_size, workers=self.workers)
        self._steps()

    def _stream_data(self, input_size: int | None) -> None:
        """Streaming (`learning.streaming`): this rank's streams of the training shards, its share of the
        validation rows; `train_set` is the first training rows (the start and the constant answer)."""
        data = stream_run_data(self.config, self.world, self.streams, self.arch.views, input_size, self.stride,
                               self.workers, pin_memory(self.device))
        self.train_set, self.loader, self.val_set, self.val_loader = data
        self.uv_regions = self.train_set.uv_regions()
        self.basis, self.face_model_spec = dataset_basis(self.config.data, self.uv_regions)
        self._steps()

    def _steps(self) -> None:
        config = self.config
        self.steps_per_epoch = (len(self.loader) if config.max_steps_per_epoch is None
                                else min(len(self.loader), config.max_steps_per_epoch))

    def _network(self) -> None:
        """The network (starting at the training set's mean answer where it is structured), precision, losses."""
        self.network = build(self.config.network_spec(), self.basis)
        if self.world.distributed and self.config.sync_batchnorm:  # before the optimiser takes the parameters
            self.network = distributed.convert_batchnorm(self.network, self.device)
        weight_mask = weight_mask_from_regions(self.uv_regions)
        size = self.basis.size  # rank 0 reads the first training rows; every rank starts from its mean answer
        self.mean_target = distributed.broadcast_tensor(_mean_posmap(self.train_set) if self.world.main else None,
                                                        (3, size, size))
        if self.arch.structured:
            self.network.start_at(self.mean_target[None] * posmap_scale(self.basis.size),
                                  torch.from_numpy(weight_mask))
        self.network = self.network.to(self.device).to(memory_format=torch.channels_last)
        self.precision = resolve_precision(self.device, self.config.precision, self.network)
        self.scaler = grad_scaler(self.device, self.precision)
        self.posmap_loss = WeightedPosmapLoss(weight_mask).to(self.device)
        stride = self.stride
        if self.arch.objective == "multiview":
            from frontside.learning.multiview_loss import MultiViewLoss, MultiViewWeights

            weights = MultiViewWeights()
            if self.config.coefficients_sd is not None:
                weights = replace(weights, coefficients_sd=float(self.config.coefficients_sd))
            self.objective = MultiViewLoss(self.basis, weight_mask, self.shape_weight, stride,
                                           weights).to(self.device)
        else:
            self.objective = ShapeAndPoseLoss(weight_mask[::stride, ::stride], self.shape_weight).to(self.device)

    def _optimiser(self) -> None:
        self.optimizer, self.scheduler, self.per_batch = _optimizer(self.network, self.config, self.lr,
                                                                    self.schedule, self.steps_per_epoch)

    def _restore(self) -> None:
        """`--resume`: weights, optimiser, schedule, history and baselines of last.pt; `--init`: weights only."""
        config = self.config
        if config.resume and self.last_path.exists():
            state = compatible_state(load_checkpoint(self.last_path, self.device), str(self.last_path), config)
            self.network.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.start_epoch, self.best_val, self.history = state["epoch"], state["best_val"], state["history"]
            self.baselines = state["config"].get("baselines", {})
            position = state.get("position") or {}
            self.start_step, self.epoch_losses = int(position.get("step", 0)), list(position.get("losses", []))
            saved = state["config"]
            if self.start_step and (saved.get("streaming", False), saved.get("data_streams", 1)) != (
                    self.streaming, self.streams):  # another order of batches: that epoch starts over
                log.info("%s: saved mid-epoch with other data streams; epoch %d starts over", self.last_path,
                         self.start_epoch + 1)
                self.start_step, self.epoch_losses = 0, []
            if position.get("scaler"):
                self.scaler.load_state_dict(position["scaler"])
        elif config.init:
            state = compatible_state(load_checkpoint(config.init, self.device), config.init, config)
            self.network.load_state_dict(state["model"])

    def _parallel(self) -> None:
        """The network as steps run it (`step_network`): across ranks in `DistributedDataParallel`, compiled
        where asked; `network` stays the bare module that is saved and validated. Each rank then draws its own
        random numbers."""
        config = self.config
        self.step_network = compiled(distributed.wrap(self.network, self.world, self.device, config.sync_batchnorm),
                                     config.compile)
        if self.world.distributed:
            torch.manual_seed(distributed.rank_seed(config.seed, self.world.rank))

    def _batches(self, epoch: int, start: int):
        """(step, batch) of this rank's share of epoch `epoch`, from step `start` on (a run resumed mid-epoch)."""
        if hasattr(self.loader, "set_epoch"):  # streaming: skips the first steps without reading them
            self.loader.set_epoch(epoch, start)
            return enumerate(self.loader, start)
        self.loader.sampler.set_epoch(epoch)
        batches = enumerate(self.loader)
        for _ in range(start):  # in memory: the skipped batches are decoded (into the sample cache they fill)
            next(batches)
        return batches

    def _update(self, loss: torch.Tensor) -> None:
        """One optimiser step on `loss` (through the gradient scaler, which only fp16 uses)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.per_batch:
            self.scheduler.step()

    def step_loss(self, x: torch.Tensor, y: torch.Tensor | dict) -> torch.Tensor:
        """The objective of one batch: inputs x (B, C, R, R), targets y (B, 3, S/t, S/t), or for a multi-view
        network a dict of targets in every view (`multiview_data.ViewTargets`)."""
        device = self.device
        x = x.to(device, non_blocking=True).to(memory_format=torch.channels_last)
        if isinstance(y, dict):
            y = {k: v.to(device, non_blocking=True) for k, v in y.items()}
            with autocast(device, self.precision):
                outputs = self.step_network(x, coarse=True, present=y["present"], details=True)
            return self.objective(outputs, y)
        y = y.to(device, non_blocking=True)
        with autocast(device, self.precision):
            prediction = self.step_network(x, coarse=True) if self.stride > 1 else self.step_network(x)
            return self.objective(prediction.float(), y)

    def train_epoch(self, epoch: int) -> tuple[list[float], float]:
        """One epoch of steps (from `start_step` when the run saved mid-epoch); (each step's loss over the global
        batch, seconds)."""
        config = self.config
        start, done = self.start_step, list(self.epoch_losses)
        self.start_step, self.epoch_losses = 0, []
        self.network.train()
        losses = []
        started, cpu_started = time.perf_counter(), time.process_time()
        bar = tqdm(self._batches(epoch, start), initial=start, total=self.steps_per_epoch, unit="batch",
                   desc=f"{config.arch} epoch {epoch}", disable=not (config.progress and self.world.main),
                   leave=False)
        for step, (x, y) in bar:
            if step >= self.steps_per_epoch:
                break
            loss = self.step_loss(x, y)
            self._update(loss)
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.5f}")
            if config.save_every and (step + 1) % config.save_every == 0 and step + 1 < self.steps_per_epoch:
                self.save_position(epoch, step + 1, done + distributed.mean_over_ranks(losses))
        bar.close()
        if not self.per_batch:
            self.scheduler.step()
        self.epoch_cpu_seconds = distributed.sum_over_ranks([time.process_time() - cpu_started])[0]
        return done + distributed.mean_over_ranks(losses), time.perf_counter() - started

    def validate(self) -> dict:
        """{"val_loss", "val_shape_loss", "val_objective"} on the validation set (every rank its share)."""
        val = evaluate_losses(self.network, self.val_loader, self.posmap_loss, self.device,
                              self.config.max_val_batches, self.precision, distributed.sum_over_ranks)
        return {**val, "val_objective": val["val_loss"] + self.shape_weight * val["val_shape_loss"]}

    def _checkpoint(self, epoch: int, position: dict | None = None) -> dict:
        return dict(network=self.network, face_model=self.face_model_spec, optimizer=self.optimizer,
                    scheduler=self.scheduler, epoch=epoch, best_val=self.best_val,
                    config={**_plain(asdict(self.config)), "baselines": self.baselines, "data_streams": self.streams,
                            "streaming": self.streaming, "world_size": self.world.size},
                    history=self.history, position={**(position or {}), "scaler": self.scaler.state_dict()})

    def save_position(self, epoch: int, step: int, losses: list[float]) -> None:
        """last.pt in the middle of `epoch`, after its `step` steps (rank 0; every rank has the same weights)."""
        if self.world.main:
            save_checkpoint(self.last_path, **self._checkpoint(epoch - 1, {"step": step, "losses": losses}))

    def save(self, epoch: int, improved: bool) -> None:
        """last.pt (and best.pt when `improved`), metrics.csv: every file atomically, by rank 0 only."""
        if not self.world.main:
            return
        kwargs = self._checkpoint(epoch)
        save_checkpoint(self.last_path, **kwargs)
        if improved:
            save_checkpoint(self.best_path, **kwargs)
        _write_metrics(self.run_dir / "metrics.csv", self.history)

    def run(self) -> TrainResult:
        """Epochs from where the run stands to `config.epochs`, or until `patience` epochs bring no improvement."""
        config = self.config
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.run_dir / "tensorboard")) if self.world.main else None
        first_step_loss = last_step_loss = float("nan")
        stale = 0
        if self.history:
            best_epoch = min(self.history, key=lambda h: h["val_objective"])["epoch"]
            stale = self.history[-1]["epoch"] - best_epoch
        epoch = self.start_epoch
        for epoch in range(self.start_epoch + 1, config.epochs + 1):
            losses, seconds = self.train_epoch(epoch)
            if losses:
                first_step_loss = losses[0] if np.isnan(first_step_loss) else first_step_loss
                last_step_loss = losses[-1]
            val = self.validate()
            record = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"), **val,
                      "lr": self.optimizer.param_groups[0]["lr"], "seconds": seconds,
                      "cpu_seconds": self.epoch_cpu_seconds, "steps": len(losses),
                      "precision": self.precision}
            self.history.append(record)
            for key in ("train_loss", "val_loss", "val_shape_loss", "lr") if writer else ():
                writer.add_scalar(key.replace("_loss", "").replace("val_shape", "val/shape"), record[key], epoch)
            improved = val["val_objective"] < self.best_val
            if improved:
                self.best_val, stale = val["val_objective"], 0
            else:
                stale += 1
            self.save(epoch, improved)
            if config.progress and self.world.main:
                log.info("%s epoch %d: train %.3g  val %.3g (constant %.3g)  val shape %.3g (mean face %.3g)%s",
                         config.arch, epoch, record["train_loss"], val["val_loss"],
                         self.baselines["constant_val_loss"], val["val_shape_loss"],
                         self.baselines["mean_face_val_shape_loss"], "  (best)" if improved else "")
            if stale >= config.patience:
                log.info("%s: early stop, no improvement for %d epochs", config.arch, config.patience)
                break
        if writer:
            writer.close()
        distributed.barrier()  # every rank ends together, after rank 0's last checkpoint
        if self.history and self.world.main:
            _loss_curve(self.history, self.baselines, self.run_dir / "loss_curve.png")
        return TrainResult(str(self.run_dir), self.best_val, epoch, str(self.best_path), str(self.last_path),
                           first_step_loss, last_step_loss)


def train(config: TrainConfig) -> TrainResult:
    """Train one network; returns where its checkpoints are and how it went (`Trainer(config).run()`). In a
    process torchrun started, this is one rank of the run; the process group it joined is left at the end."""
    trainer = None
    try:
        trainer = Trainer(config)
        return trainer.run()
    finally:
        if trainer is None or trainer.own_group:
            distributed.stop()


@torch.no_grad()
def evaluate_losses(network, loader, posmap_loss: WeightedPosmapLoss, device, max_batches: int | None = None,
                    precision: str = "fp32", reduce=None) -> dict:
    """{"val_loss", "val_shape_loss"}: mean weighted posmap loss per sample over `loader` (at most `max_batches`
    batches), as is and after aligning each prediction to its target by a similarity; network in eval mode.
    reduce: sums a list of numbers over the ranks (`distributed.sum_over_ranks`), each of which saw its share."""
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
    total, shape, count = reduce([total, shape, count]) if reduce else (total, shape, count)
    return {"val_loss": total / max(count, 1), "val_shape_loss": shape / max(count, 1)}


@torch.no_grad()
def validation_baselines(loader, mean_target: torch.Tensor, basis: UVBasis, posmap_loss: WeightedPosmapLoss,
                         device, max_batches: int | None = None, reduce=None) -> dict:
    """What two fixed answers score on the validation set: the constant mean position map (`val_loss`) and the
    model's mean face placed on each target by a similarity (`val_shape_loss`; a network must beat it on shape)."""
    from frontside.learning.networks.structured import PosedBasis

    geometry = PosedBasis(basis)
    frontal = torch.tensor([[1.0, 0, 0, 0, 1, 0, float(np.log(0.6)), 0, 0]])
    mean_face = geometry(frontal, torch.zeros(1, geometry.n_components)) / posmap_scale(basis.size)
    constant, shape, count = 0.0, 0.0, 0
    for i, (_, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        y = y.to(device)
        constant += float(posmap_loss(mean_target.to(device).expand_as(y), y)) * len(y)
        aligned = similarity_align(mean_face.to(device).expand_as(y), y, posmap_loss.weights)
        shape += float(posmap_loss(aligned, y)) * len(y)
        count += len(y)
    constant, shape, count = reduce([constant, shape, count]) if reduce else (constant, shape, count)
    return {"constant_val_loss": constant / max(count, 1), "mean_face_val_shape_loss": shape / max(count, 1)}


def _plain(d: dict) -> dict:
    """Only JSON-like values, so the checkpoint loads with weights_only=True."""
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else [str(x) for x in v]
                if isinstance(v, (list, tuple)) else str(v)) for k, v in d.items()}


def _write_metrics(path: Path, history: list[dict]) -> None:
    text = io.StringIO(newline="")
    # every key of every epoch, in order of first appearance: a resumed run's epochs may record more than the
    # epochs its previous version wrote
    writer = csv.DictWriter(text, fieldnames=list(dict.fromkeys(k for record in history for k in record)), restval="")
    writer.writeheader()
    writer.writerows(history)
    write_atomic(path, text.getvalue())
