"""Shard streams: the plan of an epoch (every row once, each stream its own shards, a bounded shuffle window,
weighted mixing), each process decoding only its share, a resumed epoch skipping without reading, shards served
over HTTP (a real server on localhost, fsspec) cached on disk within a bound, and a run from HTTP training like
the local one."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from frontside.learning.config import TrainConfig
from frontside.learning.streaming import (
    ShardFetcher,
    StreamDataset,
    StreamedShards,
    StreamPlan,
    buffered_order,
    pieces_of,
)


def _plan(dataset, streams=2, micro=2, seed=0, weights=None, buffer=8, datasets=None):
    datasets = datasets or [dataset]
    return StreamPlan([pieces_of(d, k, None, streams) for k, d in enumerate(datasets)], streams, micro, seed,
                      weights, buffer)


def test_a_shuffle_buffer_holds_at_most_its_size_and_moves_rows_across_shards():
    order = buffered_order(1000, 50, np.random.default_rng(0))
    assert sorted(order) == list(range(1000))
    # at the k-th emission at most k + 50 rows have been pushed: nothing comes out before it went in, and the
    # buffer never holds more than its size
    assert all(position < k + 50 for k, position in enumerate(order))
    assert np.abs(order - np.arange(1000)).mean() > 10  # not the push order
    assert list(buffered_order(10, 0, np.random.default_rng(0))) == list(range(10))


def test_an_epoch_gives_every_row_once_each_stream_from_its_own_shards(stream_dataset):
    data = StreamedShards(stream_dataset)
    plan = _plan(data)
    shards = [{p.shard for p in plan.assigned[s][0]} for s in range(2)]
    assert not shards[0] & shards[1] and len(shards[0] | shards[1]) == 8  # a share each, all shards dealt
    for epoch in (0, 1):
        seen = []
        for stream in range(2):
            slots = plan.slots(epoch, stream)
            pushes = plan.pushes(epoch, stream, 0, 0)
            rows = [int(pushes[p]) for _, _, p in slots]
            assert {data.rows[i][0] for i in rows} <= shards[stream]
            seen += rows
        assert len(seen) == len(set(seen)) == plan.steps * 4  # each row at most once; 48 rows, 12 steps of 4
    assert plan.steps == 12
    orders = [list(plan.slots(e, 0)[:, 2]) for e in (0, 1)]
    assert orders[0] != orders[1]  # a new order each epoch ...
    assert list(_plan(data).slots(1, 0)[:, 2]) == orders[1]  # ... fixed by (seed, epoch)


def test_weighted_mixing_draws_by_weight_and_starts_a_source_over(stream_dataset, tiny_dataset):
    big, small = StreamedShards(stream_dataset), StreamedShards(tiny_dataset)
    plan = _plan(big, weights=[1.0, 3.0], datasets=[big, small], micro=8)
    slots = np.concatenate([plan.slots(0, s) for s in range(2)])
    share = float((slots[:, 0] == 1).mean())
    assert plan.steps == (48 + 12) // 16 and 0.6 < share < 0.9  # 3 in 4 slots from the small set
    assert slots[slots[:, 0] == 1, 1].max() >= 1  # 12 rows drawn ~45 times: passes over it again


@pytest.mark.slow  # loader worker processes
def test_each_process_decodes_only_its_own_share_and_a_resumed_epoch_skips_without_reading(stream_dataset):
    data = StreamedShards(stream_dataset, input_size=32, target_stride=2)
    plan = _plan(data, buffer=6)
    decoded: dict[int, list[int]] = {}

    class Counting(StreamedShards):
        def sample(self, index):
            decoded.setdefault(self.stream, []).append(index)
            return super().sample(index)

    batches = {}
    for stream in range(2):
        counting = Counting(stream_dataset, input_size=32, target_stride=2)
        counting.stream = stream
        dataset = StreamDataset(plan, [counting], [stream])
        dataset.set_epoch(3)
        batches[stream] = list(dataset)
    for stream in range(2):
        own = {p.shard for p in plan.assigned[stream][0]}
        assert {data.rows[i][0] for i in decoded[stream]} <= own
        assert len(decoded[stream]) == plan.steps * plan.micro  # each of its samples decoded once
    x, y = batches[0][0]
    assert x.shape == (2, 6, 32, 32) and y.shape == (2, 3, 32, 32)

    # the same epoch from step 7: the same batches as the tail, and only their samples decoded
    decoded.clear()
    counting = Counting(stream_dataset, input_size=32, target_stride=2)
    counting.stream = 0
    resumed = StreamDataset(plan, [counting], [0])
    resumed.set_epoch(3, start_step=7)
    tail = list(resumed)
    assert len(tail) == plan.steps - 7 and len(decoded[0]) == (plan.steps - 7) * plan.micro
    for (a, b), (c, d) in zip(tail, batches[0][7:]):
        assert torch.equal(a, c) and torch.equal(b, d)

    # two workers share the steps and the DataLoader keeps them in order
    from frontside.learning.streaming import StreamLoader

    loader = StreamLoader(StreamDataset(plan, [data], [0, 1]), workers=2)
    loader.set_epoch(3)
    together = list(loader)
    assert len(together) == plan.steps
    assert torch.equal(together[5][0], torch.cat([batches[0][5][0], batches[1][5][0]]))


@pytest.fixture
def http_root(stream_dataset):
    """The dataset's parent folder served over HTTP on localhost (a real server, stopped after the test)."""
    root = Path(stream_dataset).parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{Path(stream_dataset).name}"
    finally:
        server.shutdown()
        server.server_close()


def test_shards_over_http_are_cached_on_disk_within_the_bound(http_root, stream_dataset, tmp_path):
    from frontside.store.manifest import list_shards

    shards = list_shards(http_root)
    size = max(info.nbytes for _, info in shards)
    fetcher = ShardFetcher(str(tmp_path / "cache"), max_bytes=2 * size)
    for url, info in shards:
        local = fetcher.local(url, info)
        assert Path(local).read_bytes() == Path(stream_dataset, info.name).read_bytes()
        assert sum(p.stat().st_size for p in (tmp_path / "cache").iterdir()) <= 2 * size
    assert len(list((tmp_path / "cache").iterdir())) == 2  # the two most recent

    # a damaged copy is fetched again, checked against the manifest's sha256
    data = StreamedShards(http_root, fetcher=fetcher)
    url, info = data.shards[-1]
    Path(fetcher.local(url, info)).write_bytes(b"x" * info.nbytes)
    assert data.read_table(len(data.shards) - 1).num_rows == info.rows


@pytest.mark.slow  # two training runs
def test_a_run_from_http_trains_like_the_local_one(http_root, stream_dataset, tmp_path):
    from frontside.learning.checkpoint.saving import load_checkpoint
    from frontside.learning.trainer import train

    common = dict(arch="twoview", width=0.5, input_size=64, batch_size=8, epochs=1, max_steps_per_epoch=3,
                  precision="fp32", progress=False, stream=True, cache_dir=str(tmp_path / "cache"), cache_gb=0.01)
    local = train(TrainConfig(data=[stream_dataset], out=str(tmp_path / "local"), **common))
    remote = train(TrainConfig(data=[http_root], out=str(tmp_path / "remote"), **common))
    a, b = load_checkpoint(local.last_path), load_checkpoint(remote.last_path)
    assert a["history"][0]["train_loss"] == b["history"][0]["train_loss"]
    assert a["history"][0]["val_loss"] == b["history"][0]["val_loss"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    cached = list((tmp_path / "cache").iterdir())
    assert cached and sum(p.stat().st_size for p in cached) <= 0.01e9
