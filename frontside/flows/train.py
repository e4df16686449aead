"""The training flow: one network on shard folders (synthetic pre-training or 300W-LP transfer)."""

from __future__ import annotations

from prefect import flow

from frontside.model.training import TrainConfig
from frontside.tasks.train import check_training_task, train_task


@flow(name="train-model", log_prints=True)
def train_model(data: list[str], out: str, val: list[str] | None = None, arch: str = "twoview", epochs: int = 50,
                batch_size: int = 16, lr: float | None = None, init: str | None = None, resume: bool = False,
                overwrite: bool = False, workers: int = 0, max_steps_per_epoch: int | None = None, seed: int = 0,
                precision: str = "auto", weight_init: str = "he", decoder_norm: str | None = None,
                schedule: str | None = None, shape_weight: float | None = None, input_size: int = 128,
                fusion: str = "stack", augment: bool | None = None, progress: bool = False) -> dict:
    """Train `arch` on `data`; returns {run_dir, best_path, last_path, best_val_loss, ...}.

    The first task checks every parameter and input (see `frontside.model.runs`): `out` holding a run needs
    `resume` or `overwrite`.
    """
    config = TrainConfig(data=list(data), out=out, val=list(val or []), arch=arch, epochs=epochs,
                         batch_size=batch_size, lr=lr, init=init, resume=resume, overwrite=overwrite, workers=workers,
                         max_steps_per_epoch=max_steps_per_epoch, seed=seed, precision=precision,
                         weight_init=weight_init, decoder_norm=decoder_norm, schedule=schedule,
                         shape_weight=shape_weight, input_size=input_size, fusion=fusion,
                         augment=augment, progress=progress)
    check_training_task(config)
    return train_task(config)
