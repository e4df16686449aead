"""Issue 11's staged sanity targets, small enough for CI: S1 (memorise 8 pairs) and S3 (held-out faces below the
constant answer). `benchmarks/diagnose_training.py` runs all four stages at full size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from frontside.learning.data import ShardDataset
from frontside.learning.loss import WeightedPosmapLoss, weight_mask_from_regions
from frontside.learning.networks.registry import build
from tools.diagnostics import layer_statistics, memorise


def _batch(dataset: ShardDataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    items = [dataset[i] for i in range(n)]
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


@pytest.mark.slow
def test_s1_the_default_network_memorises_eight_pairs(tiny_dataset):
    torch.manual_seed(0)
    data = ShardDataset(tiny_dataset, "both", input_size=64)
    x, y = _batch(data, 8)
    net = build("twoview", width=0.5, input_size=64)
    result = memorise(net, x, y, weight_mask_from_regions(data.uv_regions()), steps=300)
    print(f"S1: loss {result.first_loss:.2e} -> {result.final_loss:.2e}, constant {result.constant_loss:.2e}")
    assert result.ratio < 0.1


def test_layer_statistics_see_every_layer_and_dead_units(tiny_dataset):
    torch.manual_seed(0)
    data = ShardDataset(tiny_dataset, "both", input_size=64)
    x, y = _batch(data, 4)
    net = build("twoview", width=0.5, input_size=64)
    loss = WeightedPosmapLoss(weight_mask_from_regions(data.uv_regions()))
    stats = layer_statistics(net, x, y, loss, torch.optim.Adam(net.parameters(), 1e-3))
    convolutions = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(stats) == len(convolutions)
    assert all(np.isfinite(s.grad_norm) and s.grad_norm > 0 for s in stats)
    assert all(0 < s.update_ratio < 1 for s in stats)
    assert all(s.dead_fraction is not None and 0 <= s.dead_fraction <= 1 for s in stats[:-1])
    # a layer whose ReLU never fires is reported dead
    with torch.no_grad():
        net.encoder[0][0].weight.zero_()
        net.encoder[0][1].bias.fill_(-1.0)
    stats = layer_statistics(net, x, y, loss, torch.optim.Adam(net.parameters(), 1e-3))
    assert stats[0].dead_fraction == 1.0


@pytest.mark.slow
def test_s3_held_out_faces_score_below_the_constant_answer(learning_split, tmp_path):
    """S3, small: trained on 128 faces, the default network beats the constant mean position map on 24 faces of
    another seed. S2 and S4 need more faces and steps: `benchmarks/diagnose_training.py`.

    The whole one-cycle schedule runs (800 steps, no early stop): with 400 steps and early stopping the outcome
    hung on the draw (final validation / constant 0.59, 0.91, 0.62, 0.84 and 1.29 for seeds 0-4; a change of
    background draws stopped seed 0 after 96 steps at 1.18). With 800: 0.59, 0.63, 0.92, 0.61 for seeds 0, 1, 3,
    4, best epochs 0.51-0.71."""
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.config import TrainConfig
    from frontside.learning.trainer import train

    train_dir, test_dir = learning_split
    result = train(TrainConfig(data=[train_dir], val=[test_dir], out=str(tmp_path / "s3"), arch="twoview",
                               width=0.5, input_size=64, epochs=100, patience=100, batch_size=16,
                               progress=False, seed=0, augment=True))  # 128 faces: without augmentation it overfits
    state = load_checkpoint(result.last_path)
    history, baselines = state["history"], state["config"]["baselines"]
    ratios = [h["val_loss"] / baselines["constant_val_loss"] for h in history]
    print(f"S3: validation / constant {ratios[0]:.3f} -> {ratios[-1]:.3f} after {sum(h['steps'] for h in history)} "
          f"steps; shape / mean face {history[-1]['val_shape_loss'] / baselines['mean_face_val_shape_loss']:.3f}")
    assert ratios[-1] < 1.0 and min(ratios) < 0.8
