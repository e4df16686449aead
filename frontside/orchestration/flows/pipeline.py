"""Flows that chain the others: train-then-evaluate (thesis 4.3.3 -> 4.3.4 -> chapter 5), the small demo of the
whole mission, and the evaluation a deployment trigger starts when a training run completes."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from frontside.evaluation.config import EvaluateConfig
from frontside.learning.config import TrainConfig, run_fields
from frontside.learning.networks.registry import get_arch
from frontside.learning.shipped import SHIPPED
from frontside.orchestration.flows.demo_config import DemoConfig
from frontside.orchestration.flows.evaluate import evaluate_models
from frontside.orchestration.flows.generate import generate_dataset
from frontside.orchestration.tasks.evaluate import shipped_checkpoint_task
from frontside.orchestration.tasks.train import train_task
from frontside.synthesis.config import GenerateConfig


@flow(name="train-then-evaluate", log_prints=True)
def train_then_evaluate(train_data: list[str], test_data: list[str], out: str,
                        archs: list[str] = ("twoview", "frontonly"), epochs: int = 50, batch_size: int = 16,
                        max_steps_per_epoch: int | None = None, transfer_data: list[str] | None = None,
                        transfer_epochs: int = 20, transfer_lr: float | None = None, seed: int = 0,
                        max_test_faces: int | None = None, overwrite: bool = False,
                        checkpoints: list[str] | None = None) -> str:
    """Pre-train each arch (or named variant: `learning.config.VARIANTS`) on synthetic shards, optionally fine-tune on 300W-LP shards from those weights
    (`--init`; lr `transfer_lr`, default a tenth of the arch's own: the thesis's 1e-5 for its network), then
    evaluate every final network and the mean face on the test shards. Each training runs in a process of its
    own (`learning.launch`): the flow peaks at one network's memory, however many it trains.
    overwrite: replace runs already under `out/runs` (else such a run stops the flow before it trains).
    checkpoints: networks trained elsewhere, evaluated beside those trained here (the demo's shipped ones)."""
    out_path = Path(out)
    finals: list[str] = []
    for arch in archs:
        fields = run_fields(arch)
        pre = train_task(TrainConfig(data=list(train_data), out=str(out_path / "runs" / arch), **fields,
                                     epochs=epochs, batch_size=batch_size, max_steps_per_epoch=max_steps_per_epoch,
                                     seed=seed, overwrite=overwrite, progress=True), own_process=True)
        final = pre["best_path"]
        if transfer_data:
            transfer = train_task(TrainConfig(data=list(transfer_data), out=str(out_path / "runs" / f"{arch}-300wlp"),
                                              **fields, epochs=transfer_epochs, batch_size=batch_size,
                                              lr=(transfer_lr if transfer_lr is not None
                                                  else get_arch(fields["arch"]).lr / 10),
                                              init=final, max_steps_per_epoch=max_steps_per_epoch,
                                              seed=seed, overwrite=overwrite, progress=True),
                                  own_process=True)
            final = transfer["best_path"]
        finals.append(final)
    return evaluate_models(EvaluateConfig(checkpoints=finals + list(checkpoints or []), data=list(test_data),
                                          out=str(out_path / "report"), max_faces=max_test_faces))


DEMO_DEFAULTS = DemoConfig()


@flow(name="demo", log_prints=True)
def demo(config: DemoConfig = DEMO_DEFAULTS) -> str:
    """The whole mission, small, on the built-in model on CPU: generate, train two-view and front-only for the
    same steps, evaluate both, the shipped multi-view network and its fronts-trained twin (`config.shipped`) and
    the mean face on held-out faces, write the report. Run again into the same `out`, it keeps the datasets and
    retrains (the demo's runs are scratch)."""
    root = Path(config.out)
    train_dir, test_dir = str(root / "data" / "train"), str(root / "data" / "test")
    for out, faces, seed in ((train_dir, config.train_faces, config.seed),
                             (test_dir, config.test_faces, config.seed + 1_000_003)):
        generate_dataset(GenerateConfig(n_faces=faces, shard_size=config.shard_size, seed=seed, out=out,
                                        views=config.views, progress=True))
    shipped = [shipped_checkpoint_task(name, str(root / "shipped" / f"shipped-{name}.pt"))
               for name in (SHIPPED if config.shipped else ())]
    steps_per_epoch = max(1, int(config.train_faces * 0.9) // config.batch_size)  # 10% held out for validation
    return train_then_evaluate(train_data=[train_dir], test_data=[test_dir], out=str(root), archs=list(config.networks),
                               epochs=max(1, round(config.steps_per_model / steps_per_epoch)),
                               batch_size=config.batch_size, seed=config.seed, overwrite=True, checkpoints=shipped)


def training_run_checkpoint(flow_run_id: str) -> str:
    """best.pt of a finished `train-model` flow run (its id, or the event resource id
    "prefect.flow-run.<id>"), found from the run's parameters through the Prefect API."""
    from prefect.client.orchestration import get_client

    flow_run_id = flow_run_id.removeprefix("prefect.flow-run.")  # a trigger passes the event's resource id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    config = run.parameters.get("config")
    out = config.get("out") if isinstance(config, dict) else getattr(config, "out", None)
    if not out:
        raise ValueError(f"flow run {flow_run_id} has no 'config.out' parameter: not a train-model run")
    return str(Path(out) / "best.pt")


@flow(name="evaluate-training-run", log_prints=True)
def evaluate_training_run(train_flow_run_id: str, data: list[str], out: str, max_faces: int | None = None) -> str:
    """What the `evaluate` deployment's trigger runs when a `train-model` flow run completes."""
    checkpoint = training_run_checkpoint(train_flow_run_id)
    return evaluate_models(EvaluateConfig(checkpoints=[checkpoint], data=list(data),
                                          out=str(Path(out) / Path(checkpoint).parent.name), max_faces=max_faces))
