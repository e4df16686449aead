"""`frontside train`: train a network on shard folders (through the Prefect flow by default)."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from frontside.model.registry import ARCHS
    from frontside.model.runs import DECODER_NORMS, FUSIONS, PRECISIONS, SCHEDULES, WEIGHT_INITS, TrainConfig

    # dests are TrainConfig's field names and defaults come from it: one home for each default
    default = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    p = sub.add_parser("train", help="train a network on generated or converted shards")
    p.add_argument("--data", action="append", required=True, help="shard folder (repeat to mix several)")
    p.add_argument("--val", action="append", default=[], help="validation shard folder (default: 10%% of --data)")
    p.add_argument("--out", required=True, help="run folder: best.pt, last.pt, metrics.csv, loss_curve.png")
    p.add_argument("--arch", default=default["arch"], choices=list(ARCHS),
                   help="twoview/frontonly: pose + face-model coefficients (default); *-thesis: table 4.1; prn")
    p.add_argument("--epochs", type=int, default=default["epochs"])
    p.add_argument("--batch-size", type=int, default=default["batch_size"])
    p.add_argument("--lr", type=float, default=default["lr"],
                   help="default: the arch's (twoview/frontonly 2e-3 one-cycle peak; thesis and prn 1e-4); "
                        "for transfer (--init) about a tenth of it")
    p.add_argument("--schedule", default=default["schedule"], choices=[s for s in SCHEDULES if s],
                   help="onecycle: AdamW, warm-up then cosine (twoview/frontonly); step: Adam halved every 5 epochs "
                        "(thesis, prn)")
    p.add_argument("--shape-weight", type=float, default=default["shape_weight"],
                   help="weight of the pose-free shape term of the loss (default: 100 for twoview/frontonly, 0 else)")
    p.add_argument("--input-size", type=int, default=default["input_size"],
                   help="twoview/frontonly: the encoder's resolution")
    p.add_argument("--fusion", default=default["fusion"], choices=FUSIONS,
                   help="twoview: one encoder on 6 stacked channels, one shared by both views, or one per view")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=default["augment"],
                   help="rotation, colour and occlusion augmentation (default: off for twoview/frontonly, whose "
                        "short CPU runs learn shape faster without it; on for the thesis networks and prn)")
    p.add_argument("--init", default=None, help="start from another run's weights (transfer learning)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its last.pt")
    mode.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--workers", type=int, default=default["workers"], help="DataLoader worker processes")
    p.add_argument("--max-steps-per-epoch", type=int, default=default["max_steps_per_epoch"])
    p.add_argument("--seed", type=int, default=default["seed"])
    p.add_argument("--precision", default=default["precision"], choices=PRECISIONS,
                   help="auto: bf16 autocast where the device runs it natively (CUDA, AVX512-BF16/AMX CPUs)")
    p.add_argument("--weight-init", default=default["weight_init"], choices=WEIGHT_INITS,
                   help="he (default) or keras: the originals' Glorot, under which the decoder starts input-blind")
    p.add_argument("--decoder-norm", default=default["decoder_norm"], choices=[n for n in DECODER_NORMS if n],
                   help="none: the thesis's decoder; batch: PRN's (default: the architecture's own)")
    p.add_argument("--no-prefect", action="store_true", help="call the training loop directly")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from frontside.model.runs import TrainConfig, check_training

    params = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    params["progress"] = True
    # numbers, the run folder, the datasets, the checkpoint it starts from: torch is imported only to check that
    # the checkpoint's weights fit the network, after every other check passed
    check_training(TrainConfig(**params))
    if args.no_prefect:
        from frontside.model.training import train

        result = train(TrainConfig(**params)).__dict__
    else:
        from frontside.cli.prefect_server import guarded_server
        from frontside.flows.train import train_model

        with guarded_server():
            result = train_model(**params)
    print(f"best validation loss {result['best_val_loss']:.6f}; checkpoints in {result['run_dir']}")
    return 0
