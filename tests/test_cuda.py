"""What only a GPU can show: training steps on CUDA in bf16 and fp16 (with its gradient scaler), pinned batches,
and two nccl ranks where there are two GPUs. Skipped, with the reason, on machines without CUDA (this project's
CI and development machines have none: the README says what was and was not run on a GPU)."""

from __future__ import annotations

import pytest
import torch

from frontside.learning.checkpoint.saving import load_checkpoint
from frontside.learning.config import TrainConfig

pytestmark = [pytest.mark.slow,  # training runs
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason=f"no CUDA device here (torch {torch.__version__}, "
                                        f"{'CPU-only build' if torch.version.cuda is None else 'no GPU visible'})")]

SMALL = dict(arch="twoview", width=0.5, input_size=64, batch_size=8, epochs=1, max_steps_per_epoch=3,
             progress=False, device="cuda")


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_training_steps_on_a_gpu(stream_dataset, tmp_path, precision):
    from frontside.learning.trainer import train

    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    result = train(TrainConfig(data=[stream_dataset], out=str(tmp_path / precision), precision=precision, **SMALL))
    state = load_checkpoint(result.last_path)
    assert state["history"][0]["precision"] == precision
    assert result.last_step_loss < result.first_step_loss * 10  # finite and not blown up


def test_streamed_batches_are_pinned_for_the_gpu(stream_dataset, tmp_path):
    from frontside.learning.trainer import Trainer

    trainer = Trainer(TrainConfig(data=[stream_dataset], out=str(tmp_path / "pin"), stream=True, **SMALL))
    x, _ = next(iter(trainer.loader))
    assert x.is_pinned() and trainer.device.type == "cuda" and trainer.workers >= 1


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="two GPUs needed for two nccl ranks")
def test_two_nccl_ranks(stream_dataset, tmp_path):
    from frontside.learning.launch import train_in_processes

    result = train_in_processes(TrainConfig(data=[stream_dataset], out=str(tmp_path / "ddp"), nproc=2, **SMALL))
    assert load_checkpoint(result["last_path"])["config"]["world_size"] == 2
