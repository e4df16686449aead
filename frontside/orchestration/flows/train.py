"""The training flow: one network on shard folders (synthetic pre-training or 300W-LP transfer)."""

from __future__ import annotations

from prefect import flow

from frontside.learning.config import TrainConfig
from frontside.orchestration.tasks.train import check_training_task, train_task


@flow(name="train-model", log_prints=True)
def train_model(config: TrainConfig) -> dict:
    """Train `config.arch` on `config.data`; returns {run_dir, best_path, last_path, best_val_loss, ...}.

    The first task checks every parameter and input (see `frontside.learning.runs`): `out` holding a run needs
    `resume` or `overwrite`.
    """
    check_training_task(config)
    return train_task(config)
