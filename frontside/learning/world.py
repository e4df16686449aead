"""Where a training process stands among its run's processes, read from torchrun's environment without importing
torch (the CLI asks before its checks, and a bad flag must answer without torch's import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    """Where this process stands among the run's processes (torchrun's environment; one process without it)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def main(self) -> bool:
        """True on the rank that writes checkpoints, metrics and logs (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env(env: dict | None = None) -> World:
    """The `World` torchrun (or `frontside train --nproc N`) describes in the environment; one process without."""
    env = os.environ if env is None else env
    size = int(env.get("WORLD_SIZE", 1))
    return World(rank=int(env.get("RANK", 0)), size=size, local_rank=int(env.get("LOCAL_RANK", 0)),
                 local_size=int(env.get("LOCAL_WORLD_SIZE", size)))


def launched_by_torchrun(env: dict | None = None) -> bool:
    """True inside a process torchrun (torch.distributed's elastic agent) started."""
    env = os.environ if env is None else env
    return "TORCHELASTIC_RUN_ID" in env or ("WORLD_SIZE" in env and "RANK" in env)
