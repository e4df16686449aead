"""`frontside train`: train a network on shard folders (through the Prefect flow by default). Flags are
`TrainConfig`'s fields (`frontside.configs`): every default has one home, the config.

`--nproc N` trains in N data-parallel processes (launched as `torchrun --standalone --nproc-per-node N` would).
Run under torchrun itself (`torchrun --nproc-per-node N -m frontside.cli train ...`), each process is one rank
and trains directly, without Prefect: torchrun is then the launcher."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from frontside.configs import add_flags
    from frontside.learning.config import TrainConfig

    p = sub.add_parser("train", help="train a network on generated or converted shards")
    add_flags(p, TrainConfig)
    p.add_argument("--no-prefect", action="store_true", help="call the training loop directly")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside.configs import from_flags
    from frontside.learning.config import TrainConfig
    from frontside.learning.runs import check_training
    from frontside.learning.world import launched_by_torchrun, world_from_env

    config = from_flags(TrainConfig, args, progress=True)
    if launched_by_torchrun():  # one rank of a run torchrun started: it launched us, we train
        from frontside.learning.trainer import train

        world = world_from_env()
        if world.main:
            check_training(config)
        result = train(config).__dict__
        if not world.main:
            return 0
    else:
        # numbers, the run folder, the datasets, the checkpoint it starts from: torch is imported only to check
        # that the checkpoint's weights fit the network, after every other check passed
        check_training(config)
        if args.no_prefect:
            from frontside.learning.launch import run_training

            result = run_training(config)
        else:
            from frontside.cli.prefect_server import guarded_server
            from frontside.orchestration.flows.train import train_model

            with guarded_server(debug=args.debug):
                result = train_model(config)
    print(f"best validation loss {result['best_val_loss']:.6f}; checkpoints in {result['run_dir']}")
    return 0
