"""The training tasks: a check of the whole configuration, then one task run per training run (it holds the
whole loop; the flow composes runs)."""

from __future__ import annotations

from dataclasses import asdict

from prefect import task
from prefect.cache_policies import NO_CACHE

from frontside.learning.config import TrainConfig
from frontside.learning.runs import check_training
from frontside.learning.trainer import train


@task(name="check-training", task_run_name="check-{config.arch}", cache_policy=NO_CACHE)
def check_training_task(config: TrainConfig) -> None:
    """Every parameter, dataset and checkpoint of the run, before a step is taken (nothing written)."""
    check_training(config)


@task(name="train-network", task_run_name="train-{config.arch}")
def train_task(config: TrainConfig) -> dict:
    """Train and return the small result record (paths and losses), never the network."""
    return asdict(train(config))
