"""Parameters and ms per sample (batch 8) forward and forward+backward on this CPU, and DataLoader throughput."""

from __future__ import annotations

import tempfile
import time

import numpy as np
import torch
from _common import emit, median_ms

from frontside.model.networks import count_parameters
from frontside.model.registry import ARCHS, THESIS_PARAMETERS, build


def loader_rate(workers: int = 2, batches: int = 6) -> float:
    from frontside.datasets.generation import face_rng  # noqa: F401  (ensures the package imports)
    from frontside.datasets.shards import Manifest, write_shard
    from frontside.datasets.torch_dataset import ShardDataset, make_loader

    sys_path = __import__("sys").path
    sys_path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests"))
    from test_shards import random_pair

    root = tempfile.mkdtemp(prefix="bench-loader-")
    rng = np.random.default_rng(0)
    manifest = Manifest(parameters={})
    for s in range(4):
        info = write_shard(f"{root}/shard-{s:05d}.parquet", [random_pair(rng, s * 16 + i) for i in range(16)])
        manifest.shards[info.name] = info
    manifest.save(root)
    loader = make_loader(ShardDataset(root, augment=True), batch_size=8, shuffle=True, workers=workers)
    iterator = iter(loader)
    next(iterator)  # spawn the workers
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += len(next(iterator)[0])
    return n / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(2)
    out = {"threads": 2, "batch": 8, "thesis_parameters_table_4_1": THESIS_PARAMETERS, "archs": {}}
    for name, arch in ARCHS.items():
        net = build(name)
        x = torch.rand(8, 6 if arch.views == "both" else 3, 256, 256)

        def forward(net=net, x=x):
            with torch.no_grad():
                net.eval()(x)

        def forward_backward(net=net, x=x):
            net.train()
            net.zero_grad()
            net(x).mean().backward()

        out["archs"][name] = {"parameters": count_parameters(net),
                              "forward_ms_per_sample": round(median_ms(forward, 3, 1) / 8, 1),
                              "forward_backward_ms_per_sample": round(median_ms(forward_backward, 3, 1) / 8, 1)}
    out["loader_samples_per_s_2_workers"] = round(loader_rate(), 1)
    emit(out)


if __name__ == "__main__":
    main()
