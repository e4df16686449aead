"""Parameters and ms per sample (batch 8, channels_last) forward and forward+backward on this CPU in float32 and,
where the CPU does bf16 natively, bf16 autocast; and DataLoader throughput."""

from __future__ import annotations

import tempfile
import time

import numpy as np
import torch
from _common import emit, median_ms

from frontside.learning.networks.registry import ARCHS, THESIS_PARAMETERS, build
from frontside.learning.networks.thesis import count_parameters


def loader_rate(workers: int = 2, batches: int = 6) -> float:
    from frontside.learning.data import ShardDataset, make_loader
    from frontside.store.manifest import Manifest
    from frontside.store.shards import write_shard
    from frontside.synthesis.generate import face_rng  # noqa: F401  (ensures the package imports)

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
    import os

    from frontside.learning.networks.thesis import keras_parameter_count
    from frontside.learning.precision import autocast, bf16_is_fast

    torch.set_num_threads(2)
    cpu = torch.device("cpu")
    precisions = ["fp32", "bf16"] if bf16_is_fast(cpu) else ["fp32"]
    out = {"threads": 2, "batch": 8, "layout": "channels_last", "thesis_parameters_table_4_1": THESIS_PARAMETERS,
           "load_average_before": os.getloadavg(), "archs": {}}
    for name, arch in ARCHS.items():
        net = build(name).to(memory_format=torch.channels_last)
        size = getattr(net, "input_size", 256)
        x = torch.rand(8, arch.in_channels, size, size).to(memory_format=torch.channels_last)
        figures = {"parameters": count_parameters(net), "parameters_keras_count": keras_parameter_count(net)}
        for precision in precisions:

            def forward(net=net, x=x, precision=precision):
                with torch.no_grad(), autocast(cpu, precision):
                    net.eval()(x)

            def forward_backward(net=net, x=x, precision=precision):
                net.train()
                net.zero_grad()
                with autocast(cpu, precision):
                    out = net(x)
                out.float().mean().backward()

            figures[f"{precision}_forward_ms_per_sample"] = round(median_ms(forward, 3, 1) / 8, 1)
            figures[f"{precision}_forward_backward_ms_per_sample"] = round(median_ms(forward_backward, 3, 1) / 8, 1)
        out["archs"][name] = figures
    out["loader_samples_per_s_2_workers"] = round(loader_rate(), 1)
    out["load_average_after"] = os.getloadavg()
    emit(out)


if __name__ == "__main__":
    main()
