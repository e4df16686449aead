"""Looking inside a network while it trains: per-layer statistics, and the staged sanity targets of issue 11.

`layer_statistics` runs one batch forward and backward and one optimiser step and reports, for every convolution,
transposed convolution and linear layer: the mean and spread of its output, the fraction of its channels that
never fire after the following ReLU (dead units), its weight gradient's norm, and the size of the step relative to
the weights (update / weight; ~1e-3 is healthy for Adam, 1e-5 is a layer that does not learn, 1e-1 one that
thrashes). These are what showed the thesis decoder's failure (issue 11): a decoder shrunk to an input-blind
output, then 60% of its first layer's channels dead at lr 1e-3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from frontside.geometry.transforms import angles_from_matrix

WATCHED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass(frozen=True)
class LayerStats:
    name: str
    kind: str
    output_mean: float
    output_std: float
    dead_fraction: float | None  # channels never positive after the next ReLU; None without one
    grad_norm: float
    update_ratio: float  # |weight step| / |weight| of one optimiser step

    def as_dict(self) -> dict:
        return asdict(self)


def layer_statistics(network: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module,
                     optimizer: torch.optim.Optimizer) -> list[LayerStats]:
    """One forward, backward and optimiser step on (x, y); statistics of every watched layer (see module doc).
    The step is taken: call it on a copy of a network you do not want moved."""
    names = {m: n for n, m in network.named_modules()}
    order: list[nn.Module] = []
    outputs: dict[nn.Module, torch.Tensor] = {}
    relus: dict[nn.Module, torch.Tensor] = {}
    last_watched: list[nn.Module | None] = [None]

    def keep_output(module, _inputs, output):
        order.append(module)
        outputs[module] = output.detach()
        last_watched[0] = module

    def keep_relu(_module, _inputs, output):
        if last_watched[0] is not None and last_watched[0] not in relus:
            relus[last_watched[0]] = output.detach()

    hooks = [m.register_forward_hook(keep_output) for m in network.modules() if isinstance(m, WATCHED)]
    hooks += [m.register_forward_hook(keep_relu) for m in network.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    network.train()
    try:
        loss = loss_fn(network(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        for h in hooks:
            h.remove()
    before = {m: m.weight.detach().clone() for m in order}
    grads = {m: float(m.weight.grad.norm()) if m.weight.grad is not None else 0.0 for m in order}
    optimizer.step()
    stats = []
    for m in order:
        out = outputs[m]
        dead = None
        if m in relus:
            fired = relus[m]
            per_channel = fired.transpose(0, 1).reshape(fired.shape[1], -1) if fired.dim() > 2 else fired.T
            dead = float((per_channel.max(dim=1).values <= 0).float().mean())
        step = float((m.weight.detach() - before[m]).norm())
        stats.append(LayerStats(names.get(m, "?"), type(m).__name__, float(out.mean()), float(out.std()), dead,
                                grads[m], step / max(float(before[m].norm()), 1e-12)))
    return stats


def pose_from_posmaps(posmaps: np.ndarray, basis) -> np.ndarray:
    """(B, 3) yaw, pitch, roll in degrees of each (B, S, S, 3) position map in pixels: the rotation that places the
    model's mean shape on it (weighted Procrustes, `PosedBasis.fit_pose`); works for every network's output."""
    from frontside.learning.network_io import face_mask
    from frontside.learning.networks.structured import PosedBasis, rotation_from_6d

    geometry = PosedBasis(basis)
    weight = torch.from_numpy(face_mask(basis.regions).astype(np.float32))
    angles = []
    for posmap in posmaps:
        pose = geometry.fit_pose(torch.from_numpy(np.ascontiguousarray(posmap.transpose(2, 0, 1)))[None], weight)
        angles.append(angles_from_matrix(rotation_from_6d(pose[None, :6])[0].double().numpy()))
    return np.asarray(angles)


@dataclass(frozen=True)
class Memorised:
    """S1: how far a network got in memorising a fixed batch (weighted posmap losses)."""

    steps: int
    first_loss: float
    final_loss: float
    constant_loss: float  # the batch's own mean position map, answered for every pair

    @property
    def ratio(self) -> float:
        """final / constant: S1 asks for < 0.1 within 300 steps."""
        return self.final_loss / self.constant_loss


def memorise(network: nn.Module, x: torch.Tensor, y: torch.Tensor, weight_mask: np.ndarray, steps: int = 300,
             lr: float | None = None, shape_weight: float | None = None) -> Memorised:
    """Train `network` (from `registry.build`) on one fixed batch (x (B, C, R, R), y (B, 3, S, S)) with its arch's
    recipe for `steps` steps; the S1 sanity check: a network that cannot memorise 8 pairs will not learn 20,000."""
    from frontside.learning.loss import ShapeAndPoseLoss, WeightedPosmapLoss
    from frontside.learning.networks.registry import get_arch

    arch = get_arch(network.arch)
    lr = lr if lr is not None else arch.lr
    objective = ShapeAndPoseLoss(weight_mask, arch.shape_weight if shape_weight is None else shape_weight)
    posmap_loss = WeightedPosmapLoss(weight_mask)
    if hasattr(network, "start_at"):
        network.start_at(y * (1.1 * y.shape[-1]), torch.from_numpy(np.asarray(weight_mask, np.float32)))
    if arch.schedule == "onecycle":
        optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.15)
    else:
        optimizer, scheduler = torch.optim.Adam(network.parameters(), lr=lr), None
    network.train()
    with torch.no_grad():
        first = float(posmap_loss(network(x).float(), y))
    for _ in range(steps):
        loss = objective(network(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    network.eval()  # batch norm's running statistics: what inference will see
    with torch.no_grad():
        final = float(posmap_loss(network(x).float(), y))
        constant = float(posmap_loss(y.mean(0, keepdim=True).expand_as(y), y))
    return Memorised(steps, first, final, constant)


# the stages `fit_stages` puts the truth in, in order: (name, truths given to the fit; "rotation": `fit_stages`)
FIT_STAGES = (("network", ()), ("its fit alone", ()), ("fit, true rotation", ("rotation",)),
              ("fit, true pose", ("pose",)), ("fit, true landmarks", ("landmarks", "visibility")),
              ("fit, true landmarks and rotation", ("landmarks", "visibility", "rotation")),
              ("fit, true landmarks and pose", ("landmarks", "visibility", "pose")))


@dataclass(frozen=True)
class FitStages:
    """Held-out R² of a multi-view network's coefficients (`names`: the basis's order) per photos given ("front",
    "front + side", "front + 2 sides") and stage (`FIT_STAGES`): `r2[photos][stage]` (K,)."""

    names: list[str]
    faces: int
    r2: dict[str, dict[str, list[float]]]

    def of(self, name: str) -> dict[str, dict[str, float]]:
        """{photos: {stage: R²}} of one component ("identity-17")."""
        k = self.names.index(name)
        return {photos: {stage: values[k] for stage, values in stages.items()} for photos, stages in self.r2.items()}


@torch.no_grad()
def fit_stages(network: nn.Module, data: list[str], n_views: int = 3, max_faces: int | None = None,
               batch_size: int = 8) -> FitStages:
    """Which stage holds a multi-view network's coefficients back? On the held-out faces of `data` (rows with
    coefficients and `n_views` views), the R² of its answer, of its landmark fit alone, and of that fit given the
    truth in place of its own answers: each view's pose (or its rotation alone), its landmarks (and visibility),
    both. Where the fit given true landmarks reaches what the network's own landmarks do not, the landmarks hold it
    back; the true pose, the pose. (Issue 21: head depth's R² 0.33 with two views, 0.71 given true landmarks, 0.14
    given true poses.) A true pose is fitted with the face's own landmarks, so its scale and shift carry the face's
    size, which no photo shows (in the built-in model one standard deviation along its weak direction moves a side
    view's shift 3.2 px and its log scale 0.03: half and two-thirds of the side pose head's error, 6 px and 0.045,
    on seed 1's 128 px): the stages given it overstate what photos allow for components a size mimics
    (`diagnostics.weak_directions`). The "rotation" stages give only the true rotation (with the network's own
    scale, shift and perspective), which carries no size."""
    from frontside.evaluation.diagnostics import component_r2
    from frontside.learning.data import MultiViewDataset, ShardDataset
    from frontside.learning.multiview_data import ViewTargets

    faces = ShardDataset(list(data), views="front", input_size=network.input_size, labels=True)
    items = ViewTargets(MultiViewDataset(faces, n_views=n_views), network.basis, n_views)
    count = len(items) if max_faces is None else min(max_faces, len(items))
    photos_given = {"front": 1, "front + side": 2, "front + 2 sides": 3}
    answers: dict[str, dict[str, list[np.ndarray]]] = {}
    truth = []
    network.eval()
    for start in range(0, count, batch_size):
        batch = [items[i] for i in range(start, min(start + batch_size, count))]
        x = torch.stack([image for image, _ in batch])
        targets = {k: torch.stack([t[k] for _, t in batch]) for k in ("landmarks", "visible", "pose", "coefficients")}
        truths = {"landmarks": targets["landmarks"], "visibility": targets["visible"].float(), "pose": targets["pose"]}
        truth.append(targets["coefficients"].numpy())
        for photos, views in photos_given.items():
            if views > n_views:
                continue
            present = (torch.arange(n_views) < views)[None].expand(len(x), n_views)
            runs: dict[tuple, dict] = {(): network.details(x, present)}  # stages given the same truths share a run
            truths["rotation"] = runs[()]["pose"].clone()
            truths["rotation"][..., :6] = targets["pose"][..., :6]
            for stage, given in FIT_STAGES:
                if given not in runs:
                    runs[given] = network.details(
                        x, present, {("pose" if k == "rotation" else k): truths[k] for k in given})
                answer = runs[given]["coefficients" if stage == "network" else "fitted"]
                answers.setdefault(photos, {}).setdefault(stage, []).append(answer.float().numpy())
    true = np.concatenate(truth)
    if not np.isfinite(true).all():
        raise ValueError(f"{data}: fit_stages needs rows with the face model's coefficients")
    return FitStages(list(network.basis.names), count,
                     {photos: {stage: [float(v) for v in component_r2(np.concatenate(a), true)]
                               for stage, a in stages.items()} for photos, stages in answers.items()})
