"""Device logic, decided from what torch reports, tested on a CPU by giving it what a GPU machine reports:
`--device`, DataLoader workers and pinned memory, the CPU threads of each process, fp16 with its gradient scaler
(which runs on a CPU too), and a bad --device refused in one line."""

from __future__ import annotations

import pytest
import torch

from frontside.errors import ParameterError
from frontside.learning.config import TrainConfig, scaled_lr
from frontside.learning.devices import (
    check_device,
    loader_workers,
    pin_memory,
    resolve_device,
    threads_per_process,
)
from frontside.learning.distributed import rank_seed
from frontside.learning.precision import autocast, grad_scaler, resolve_precision
from frontside.learning.world import World, world_from_env


def test_the_device_of_each_process():
    two = World(rank=3, size=4, local_rank=1, local_size=2)
    assert resolve_device("auto", two, cuda_available=True, cuda_count=2) == torch.device("cuda", 1)
    assert resolve_device("cuda", two, cuda_available=True, cuda_count=1) == torch.device("cuda", 0)
    assert resolve_device("auto", two, cuda_available=False) == torch.device("cpu")
    assert resolve_device(None, World(), cuda_available=False) == torch.device("cpu")
    assert resolve_device("cuda:1", two, cuda_available=True) == torch.device("cuda", 1)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="device: cuda: CUDA is not available"):
            check_device("cuda")


def test_workers_pinning_and_threads_are_sized_to_the_machine():
    gpu, cpu = torch.device("cuda", 0), torch.device("cpu")
    one, four = World(), World(rank=0, size=4, local_size=4)
    assert loader_workers(None, cpu, one, cpus=32) == 0  # the steps use the cores
    assert loader_workers(None, gpu, one, cpus=32) == 8 and loader_workers(None, gpu, four, cpus=32) == 7
    assert loader_workers(None, gpu, four, cpus=4) == 1 and loader_workers(3, gpu, four, cpus=4) == 3
    assert pin_memory(gpu) and not pin_memory(cpu)
    assert threads_per_process(four, cpus=2) == 1 and threads_per_process(one, cpus=2) == 2


def test_torchruns_environment_and_rank_seeds():
    world = world_from_env({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"})
    assert (world.rank, world.size, world.local_rank, world.local_size, world.main) == (5, 8, 1, 4, False)
    assert world_from_env({}) == World() and World().main and not World().distributed
    assert rank_seed(7, 0) == 7 and len({rank_seed(7, r) for r in range(4)}) == 4


def test_fp16_steps_go_through_a_gradient_scaler_bf16_and_fp32_do_not():
    cpu = torch.device("cpu")
    assert resolve_precision(cpu, "fp16") == "fp16"
    assert grad_scaler(cpu, "fp16").is_enabled() and not grad_scaler(cpu, "bf16").is_enabled()
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                  torch.nn.Linear(4 * 14 * 14, 1))
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-3)
    scaler = grad_scaler(cpu, "fp16")
    x = torch.rand(2, 3, 16, 16)
    scales, applied = [], []
    for _ in range(30):
        before = [p.detach().clone() for p in network.parameters()]
        optimizer.zero_grad()
        with autocast(cpu, "fp16"):
            out = network(x)
            loss = out.float().square().mean()
        assert out.dtype == torch.float16
        scale = scaler.get_scale()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        moved = any(not torch.equal(a, b) for a, b in zip(before, network.parameters()))
        scales.append(scale)
        applied.append(moved)
        if not moved:  # the scaled gradients overflowed float16: the step was skipped and the scale halved
            assert scaler.get_scale() == scale / 2
    assert any(applied), scales


def test_the_recipes_learning_rate_for_another_global_batch():
    assert scaled_lr(2e-3, 16, "none") == 2e-3
    assert scaled_lr(2e-3, 64, "linear") == pytest.approx(8e-3)
    assert scaled_lr(2e-3, 64, "sqrt") == pytest.approx(4e-3)
    config = TrainConfig(data=["d"], out="r", batch_size=64, lr_scaling="sqrt")
    assert config.recipe()[0] == pytest.approx(4e-3)
    assert TrainConfig(data=["d"], out="r", batch_size=64, lr=1e-3, lr_scaling="linear").recipe()[0] == 1e-3


@pytest.mark.slow  # a training run
def test_a_run_in_fp16_keeps_its_scaler_in_the_checkpoint(stream_dataset, tmp_path):
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.trainer import train

    result = train(TrainConfig(data=[stream_dataset], out=str(tmp_path / "fp16"), arch="twoview", width=0.5,
                               input_size=64, batch_size=8, epochs=1, max_steps_per_epoch=2, precision="fp16",
                               progress=False))
    state = load_checkpoint(result.last_path)
    assert state["history"][0]["precision"] == "fp16" and state["position"]["scaler"]["scale"] > 0
