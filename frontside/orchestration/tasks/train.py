"""The training tasks: a check of the whole configuration, then one task run per training run (it holds the
whole loop, in this process or in processes of its own: `learning.launch`; the flow composes runs)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from frontside.learning.config import TrainConfig
from frontside.learning.launch import run_training
from frontside.learning.runs import check_training


@task(name="check-training", task_run_name="check-{config.arch}", cache_policy=NO_CACHE)
def check_training_task(config: TrainConfig) -> None:
    """Every parameter, dataset and checkpoint of the run, before a step is taken (nothing written)."""
    check_training(config)


@task(name="train-network", task_run_name="train-{config.arch}")
def train_task(config: TrainConfig, own_process: bool = False) -> dict:
    """Train and return the small result record (paths and losses), never the network. `config.nproc` above 1
    launches that many data-parallel processes; `own_process` runs even one process apart, so that nothing of
    the run stays in the caller's memory."""
    return run_training(config, own_process)
