"""Data-parallel training on torch.distributed: the processes of one run, as torchrun starts them.

A run is `world.size` processes (ranks), each with its own share of the data; `DistributedDataParallel` averages
their gradients every step, so every rank holds the same weights. The process group comes from torchrun's
environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`/`MASTER_PORT`): `gloo` on CPUs, `nccl` on GPUs.
Without that environment a run is one process and nothing here talks to anyone.

Batch norm: each rank sees `batch / world` samples, and normalising by those alone would make a 2-process run a
different computation from a 1-process run of the same global batch. `convert_batchnorm` synchronises the
statistics over the ranks: torch's `SyncBatchNorm` on GPUs; on CPUs, where torch's version refuses to run,
`GlooSyncBatchNorm` (two all-reduces a layer per forward: the sum, then the squared deviations; differentiable,
so the gradient flows through the global statistics exactly as in one process).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from frontside.learning.world import World

log = logging.getLogger(__name__)

TIMEOUT = timedelta(minutes=30)  # a rank waits this long for the others (rank 0 writing a checkpoint, a slow shard)


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def start(world: World, device: torch.device) -> None:
    """Join the run's process group (env:// rendezvous) when the run has more than one process."""
    if world.distributed and not dist.is_initialized():
        dist.init_process_group(backend_for(device), timeout=TIMEOUT,
                                device_id=device if device.type == "cuda" else None)
        log.info("rank %d of %d joined the process group (%s)", world.rank, world.size, backend_for(device))


def stop() -> None:
    """Leave the process group (a no-op in a one-process run)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """The seed of a rank's own random draws (dropout and the like): rank 0 of any run keeps `seed`."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def sum_over_ranks(values: Sequence[float]) -> list[float]:
    """Each value summed over every rank (in float64; the values themselves in a one-process run)."""
    if not dist.is_initialized():
        return [float(v) for v in values]
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return [float(v) for v in tensor.cpu()]


def mean_over_ranks(values: Sequence[float]) -> list[float]:
    """Each value averaged over the ranks: one step's loss of the whole global batch, from each rank's share."""
    world = dist.get_world_size() if dist.is_initialized() else 1
    return [v / world for v in sum_over_ranks(values)]


def broadcast_tensor(tensor: torch.Tensor | None, shape: Sequence[int], source: int = 0) -> torch.Tensor:
    """`tensor` (float32, given on rank `source` only) on every rank."""
    if not dist.is_initialized():
        return tensor
    buffer = (tensor.float().contiguous() if dist.get_rank() == source else torch.empty(tuple(shape)))
    if dist.get_backend() == "nccl":
        buffer = buffer.cuda()
    dist.broadcast(buffer, source)
    return buffer.cpu()


class _SumOverRanks(torch.autograd.Function):
    """A tensor summed over the ranks, differentiably: the gradient of each rank's input is the sum of every
    rank's gradient of the output (each rank's loss depends on every rank's input through the sum)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """`BatchNorm2d` whose training statistics are those of the global batch, on any device and backend.

    The same parameters and buffers as `BatchNorm2d` (a checkpoint cannot tell them apart); in eval mode, or when
    no process group runs, it is `BatchNorm2d`. In training across ranks: mean over every rank's samples (one
    all-reduce of the sums and counts), then the biased variance of the same (a second all-reduce of the squared
    deviations from that mean: no cancellation as in E[x^2] - E[x]^2), both differentiable
    (`_SumOverRanks`), so the backward pass sums each rank's part of the gradient
    of the statistics as one process would. Running statistics: as `BatchNorm2d` (unbiased variance)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        all_reduce = _SumOverRanks.apply
        self._check_input_dim(input)
        x = input.float()
        channels = x.shape[1]
        count = x.new_tensor([x.numel() / channels])
        sums = all_reduce(torch.cat([x.sum((0, 2, 3)), count]))
        total = sums[channels]
        mean = sums[:channels] / total
        centred = x - mean.view(1, -1, 1, 1)
        var = all_reduce((centred * centred).sum((0, 2, 3))) / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
                unbiased = var * (total / (total - 1).clamp(min=1))
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.detach(), alpha=factor)
        out = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            out = out * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return out.to(input.dtype)


def convert_batchnorm(network: nn.Module, device: torch.device) -> nn.Module:
    """`network` with every `BatchNorm2d` synchronised over the ranks (in place where possible): torch's
    `SyncBatchNorm` on CUDA, `GlooSyncBatchNorm` elsewhere. State dict names and values are unchanged."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(network)
    return _replace_batchnorm(network)


def _replace_batchnorm(module: nn.Module) -> nn.Module:
    if type(module) is nn.BatchNorm2d:
        synced = GlooSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                   module.track_running_stats)
        synced.load_state_dict(module.state_dict())
        synced.train(module.training)
        return synced.to(next(iter(module.buffers()), torch.empty(0)).device)
    for name, child in module.named_children():
        replaced = _replace_batchnorm(child)
        if replaced is not child:
            setattr(module, name, replaced)
    return module


def wrap(network: nn.Module, world: World, device: torch.device, synced_batchnorm: bool) -> nn.Module:
    """The network as a rank's steps run it: `DistributedDataParallel` across ranks (rank 0's weights broadcast
    at construction, gradients averaged every step), the network itself in a one-process run. With synchronised
    batch norm the running statistics agree on every rank already, so buffers are not broadcast each step."""
    if not world.distributed:
        return network
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None,
                                   forward_sync_buffers=not synced_batchnorm)
