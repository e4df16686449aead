"""Which device a training process runs on and how its data reaches it: `--device auto|cpu|cuda|cuda:N`, the
DataLoader's workers and pinned memory sized to the machine, the CPU threads each process may use, and
`torch.compile` where asked. Everything here decides from what torch reports, so it is tested on a CPU by
giving it what a GPU machine would report."""

from __future__ import annotations

import logging
import os

import torch

from frontside.errors import ParameterError
from frontside.learning.world import World

log = logging.getLogger(__name__)

MAX_GPU_WORKERS = 8


def check_device(choice: str) -> None:
    """ParameterError naming --device when it asks for CUDA and this torch or machine has none."""
    if choice.startswith("cuda") and not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else "no CUDA device is visible"
        raise ParameterError("device", f"{choice}: CUDA is not available here ({build}, torch {torch.__version__})")
    if ":" in choice and int(choice.split(":")[1]) >= torch.cuda.device_count():
        raise ParameterError("device", f"{choice}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def resolve_device(choice: str | None, world: World, cuda_available: bool | None = None,
                   cuda_count: int | None = None) -> torch.device:
    """The device of this process: `auto` (or None) is a GPU when there is one, else the CPU; `cuda` is the
    process's own GPU (`cuda:LOCAL_RANK`, modulo the GPUs there are); `cuda:N` and `cpu` as given."""
    cuda_available = torch.cuda.is_available() if cuda_available is None else cuda_available
    choice = choice or "auto"
    if choice == "auto":
        choice = "cuda" if cuda_available else "cpu"
    if choice == "cuda":
        count = torch.cuda.device_count() if cuda_count is None else cuda_count
        return torch.device("cuda", world.local_rank % max(count, 1))
    return torch.device(choice)


def usable_cpus() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def loader_workers(requested: int | None, device: torch.device, world: World, cpus: int | None = None) -> int:
    """DataLoader workers per process: as requested, or sized to the machine. On a CPU none: the step's own
    threads use the cores, and a worker decoding beside them takes a core from the arithmetic (the sample cache
    makes decoding a first-epoch cost). On a GPU the cores this process's share of the machine has, less the
    one that drives the GPU, at most `MAX_GPU_WORKERS`."""
    if requested is not None:
        return requested
    if device.type != "cuda":
        return 0
    cpus = usable_cpus() if cpus is None else cpus
    return max(1, min(MAX_GPU_WORKERS, cpus // max(world.local_size, 1) - 1))


def pin_memory(device: torch.device) -> bool:
    """Page-locked batches (asynchronous host-to-GPU copies) where a GPU takes them."""
    return device.type == "cuda"


def threads_per_process(world: World, cpus: int | None = None) -> int:
    """The intra-op threads of each of the `world.local_size` processes on this machine: the cores shared out,
    so N processes on N cores do not each start N threads that fight over them."""
    cpus = usable_cpus() if cpus is None else cpus
    return max(1, cpus // max(world.local_size, 1))


def set_threads(world: World, device: torch.device) -> None:
    """Share the CPU's cores among the processes of a run on this machine (CPU training only)."""
    if device.type == "cpu" and world.local_size > 1:
        torch.set_num_threads(threads_per_process(world))


def compiled(network: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """`torch.compile(network)` when enabled (the module it wraps keeps the weights and is what is saved)."""
    if not enabled:
        return network
    log.info("compiling the network (torch.compile); the first steps include its compilation")
    return torch.compile(network)
