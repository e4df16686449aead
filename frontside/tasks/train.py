"""The training task: one task run per training run (it holds the whole loop; the flow composes runs)."""

from __future__ import annotations

from dataclasses import asdict

from prefect import task

from frontside.model.training import TrainConfig, train


@task(name="train-network", task_run_name="train-{config.arch}")
def train_task(config: TrainConfig) -> dict:
    """Train and return the small result record (paths and losses), never the network."""
    return asdict(train(config))
