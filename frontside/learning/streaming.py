"""Training data as streams of shards: datasets bigger than memory, on any fsspec URL, shared out among the
processes of a data-parallel run, mixed with weights.

A run draws each step's global batch from `streams` data streams, `batch / streams` samples each; a process of
an N-process run reads `streams / N` of them, so what a batch holds depends on the number of streams, never on
the number of processes (1 process reading 2 streams and 2 processes reading one each train alike). Each
stream owns a fixed share of every dataset's shards (`pieces`, dealt once by the seed; a dataset with fewer
shards than streams is dealt in row ranges), so a process opens and decodes only its own share.

Within an epoch a stream visits its pieces in a new order, the rows of each piece in a new order, through a
shuffle buffer of `buffer` samples: it holds at most that many decoded samples and one shard, whatever the
dataset's size. The order is a pure function of the manifests, the seed, the epoch and the stream
(`StreamPlan`), computed without decoding anything, so a run resumed at step k of an epoch skips the first k
batches without reading them. With `weights`, each sample slot draws its dataset by weight (synthetic and
300W-LP, thesis 4.3.4), and a dataset a stream runs out of starts over in a new order; without, each sample of
every dataset comes once an epoch.

Shards behind a URL (`http://`, `s3://`, ...) are copied to a local cache folder bounded in bytes
(`ShardFetcher`, least recently used out first), checked by sha256 against the manifest on every read.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from frontside.errors import DataIntegrityError, ParameterError
from frontside.io import cache_root, copy_atomic, is_url, url_to_fs
from frontside.learning.data import ShardDataset, _worker_init
from frontside.store.manifest import ShardInfo
from frontside.store.shards import read_shard

log = logging.getLogger(__name__)

_PIECES, _ORDER, _LABELS = 0x9E3, 0x51F, 0x1AB  # tags that keep the plan's random draws apart


def holdout_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/validation split of n rows (by a hash of the index, stable as data grows)."""
    keys = [hashlib.sha256(f"{seed}:{i}".encode()).digest()[0] / 256.0 for i in range(n)]
    val = [i for i, k in enumerate(keys) if k < fraction] or [n - 1]
    val_set = set(val)
    return [i for i in range(n) if i not in val_set], val


def default_cache_dir() -> str:
    return str(cache_root() / "shards")


class ShardFetcher:
    """Local copies of shards that live behind URLs, in `folder`, at most `max_bytes` of them (the least recently
    used removed first; the shard being read is never the one removed). Local shards are read where they are.
    Copies are named by their sha256, so every process and run shares them safely, and written under a temp name
    then renamed, so a reader never sees half a copy."""

    def __init__(self, folder: str | None = None, max_bytes: int = 20 << 30):
        self.folder, self.max_bytes = folder or default_cache_dir(), int(max_bytes)

    def local(self, url: str, info: ShardInfo) -> str:
        """A local path holding the shard at `url` (`url` itself when it is local)."""
        if not is_url(url):
            return url
        path = Path(self.folder) / f"{info.sha256}.parquet"
        if path.is_file() and path.stat().st_size == info.nbytes:
            os.utime(path)  # recently used
            return str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fs, remote = url_to_fs(url)
        with fs.open(remote, "rb") as source:
            copy_atomic(source, path)
        log.debug("fetched %s (%d bytes) into %s", url, info.nbytes, path)
        self._evict(keep=path)
        return str(path)

    def _evict(self, keep: Path) -> None:
        copies = []
        for entry in Path(self.folder).glob("*.parquet"):
            try:
                copies.append((entry.stat().st_mtime, entry.stat().st_size, entry))
            except FileNotFoundError:  # another process removed it
                continue
        total = sum(size for _, size, _ in copies)
        for _, size, entry in sorted(copies, key=lambda c: c[0]):
            if total <= self.max_bytes:
                break
            if entry != keep:
                entry.unlink(missing_ok=True)
                total -= size

    def forget(self, url: str, info: ShardInfo) -> None:
        """Remove the local copy of `url` (it failed its check)."""
        if is_url(url):
            (Path(self.folder) / f"{info.sha256}.parquet").unlink(missing_ok=True)


class StreamedShards(ShardDataset):
    """A `ShardDataset` that keeps no decoded samples and one shard at a time (the stream's shuffle buffer holds
    what it needs), reading shards behind URLs through a `ShardFetcher`."""

    def __init__(self, roots: str | list[str], views: str = "both", augment: bool = False, seed: int = 0,
                 indices: list[int] | None = None, input_size: int | None = None, target_stride: int = 1,
                 fetcher: ShardFetcher | None = None, labels: bool = False):
        super().__init__(roots, views, augment, seed, indices=indices, cache_bytes=1, input_size=input_size,
                         sample_cache_bytes=0, target_stride=target_stride, labels=labels)
        self.fetcher = fetcher or ShardFetcher()

    def read_table(self, shard: int):
        url, info = self.shards[shard]
        try:
            return read_shard(self.fetcher.local(url, info), info, columns=self.columns)
        except DataIntegrityError:
            if not is_url(url):
                raise
            self.fetcher.forget(url, info)  # a damaged local copy: fetch it once more
            return read_shard(self.fetcher.local(url, info), info, columns=self.columns)

    def fresh(self) -> StreamedShards:
        """A copy with its own (empty) shard cache: one per stream, so streams never evict each other's shard."""
        twin = copy.copy(self)
        twin.__dict__.update(self.__getstate__())
        return twin


@dataclass(frozen=True)
class Piece:
    """Rows of one shard that one stream reads: `indices` into its source's `ShardDataset`."""

    source: int
    shard: int
    indices: tuple[int, ...]


def pieces_of(dataset: ShardDataset, source: int, keep: Sequence[int] | None, at_least: int) -> list[Piece]:
    """The pieces of `dataset` (its rows `keep`, or all): one per shard, or row ranges of shards when it has
    fewer shards than `at_least` (so every stream gets a share)."""
    by_shard: dict[int, list[int]] = {}
    for i in (range(len(dataset)) if keep is None else keep):
        by_shard.setdefault(dataset.rows[i][0], []).append(int(i))
    parts = max(1, -(-at_least // max(len(by_shard), 1)))
    pieces = []
    for shard, rows in by_shard.items():
        for chunk in np.array_split(np.asarray(rows), min(parts, len(rows))):
            pieces.append(Piece(source, shard, tuple(int(i) for i in chunk)))
    return pieces


def buffered_order(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """The order in which a shuffle buffer of `size` items emits n items pushed as 0, 1, ..., n - 1: once full,
    each push is followed by the emission of a uniformly drawn held item; the rest leave in random order.
    size <= 1: the push order."""
    if size <= 1 or n <= 1:
        return np.arange(n)
    out = np.empty(n, np.int64)
    draws = rng.random(n)
    held: list[int] = []
    k = 0
    for position in range(n):
        held.append(position)
        if len(held) >= size:
            j = int(draws[position] * len(held))
            held[j], held[-1] = held[-1], held[j]
            out[k] = held.pop()
            k += 1
    out[k:] = np.asarray(held, np.int64)[rng.permutation(len(held))]
    return out


class StreamPlan:
    """Which samples every stream gives at every step of an epoch, from the manifests alone.

    pieces:  per source (dataset), its pieces (`pieces_of`); dealt to the streams once, by `seed`, each to the
             stream holding the fewest rows so far.
    streams: the number of streams; micro: samples a stream gives per step (global batch / streams).
    weights: None (each sample once an epoch; an epoch is as many steps as the smallest stream fills) or one
             weight per source (each slot draws its source; an epoch is all sources' rows / the global batch).
    buffer:  the shuffle buffer's size in samples (0: no shuffling at all, pieces and rows in order).
    """

    def __init__(self, pieces: list[list[Piece]], streams: int, micro: int, seed: int,
                 weights: Sequence[float] | None = None, buffer: int = 1024, shuffle: bool = True):
        self.streams, self.micro, self.seed, self.buffer, self.shuffle = streams, micro, seed, buffer, shuffle
        self.sources = len(pieces)
        self.weights = None if not weights else np.asarray(weights, np.float64) / float(np.sum(weights))
        self.assigned: list[list[list[Piece]]] = [[[] for _ in pieces] for _ in range(streams)]
        for source, own in enumerate(pieces):
            rng = np.random.default_rng(np.random.SeedSequence([seed, _PIECES, source]))
            loads = [0] * streams
            for k in rng.permutation(len(own)):
                target = int(np.argmin(loads))
                self.assigned[target][source].append(own[k])
                loads[target] += len(own[k].indices)
        self.rows = np.array([[sum(len(p.indices) for p in per_source) for per_source in per_stream]
                              for per_stream in self.assigned], np.int64)  # (streams, sources)
        for source in range(self.sources):
            if (self.rows[:, source] == 0).any():
                raise ParameterError("streams", f"dataset {source + 1} has {int(self.rows[:, source].sum())} rows "
                                                f"here, fewer than the {streams} data streams: use fewer --streams")
        if self.weights is None:
            self.steps = int(self.rows.sum(1).min()) // micro
        else:
            self.steps = int(self.rows.sum()) // (micro * streams)
        if self.steps < 1:
            raise ParameterError("batch_size", f"a global batch of {micro * streams} is larger than the data "
                                               f"({int(self.rows.sum())} rows; the smallest stream holds "
                                               f"{int(self.rows.sum(1).min())})")

    def pushes(self, epoch: int, stream: int, source: int, turn: int) -> np.ndarray:
        """The source's row indices in the order stream `stream` pushes them into its buffer, in pass `turn` of
        that source in `epoch` (a weighted source may be gone through more than once)."""
        own = self.assigned[stream][source]
        if not self.shuffle:
            return np.asarray([i for piece in own for i in piece.indices], np.int64)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _ORDER, epoch, stream, source, turn]))
        return np.concatenate([np.asarray(own[k].indices, np.int64)[rng.permutation(len(own[k].indices))]
                               for k in rng.permutation(len(own))])

    def emissions(self, epoch: int, stream: int, source: int, turn: int) -> np.ndarray:
        """Positions into `pushes(...)` in the order the buffer gives them out."""
        n = int(self.rows[stream, source])
        if not self.shuffle:
            return np.arange(n)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _ORDER, epoch, stream, source, turn, 1]))
        return buffered_order(n, self.buffer, rng)

    def slots(self, epoch: int, stream: int) -> np.ndarray:
        """(steps * micro, 3) int64: for each sample the stream gives in `epoch`, (source, pass, position in
        that pass's `pushes`)."""
        n = self.steps * self.micro
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _LABELS, epoch, stream]))
        if self.weights is None:
            labels = np.repeat(np.arange(self.sources), self.rows[stream])
            labels = (labels[rng.permutation(len(labels))] if self.shuffle else labels)[:n]
        else:
            labels = rng.choice(self.sources, size=n, p=self.weights)
        out = np.empty((n, 3), np.int64)
        out[:, 0] = labels
        for source in range(self.sources):
            where = np.flatnonzero(labels == source)
            count, rows = np.arange(len(where)), int(self.rows[stream, source])
            out[where, 1] = count // rows
            for turn in range(int(out[where, 1].max()) + 1 if len(where) else 0):
                mine = where[count // rows == turn]
                out[mine, 2] = self.emissions(epoch, stream, source, turn)[count[count // rows == turn] % rows]
        return out


class _Walker:
    """One stream of one process in one epoch: gives the samples of the steps it is asked for, decoding each
    when its turn to enter the shuffle buffer comes, and only those it will give."""

    def __init__(self, plan: StreamPlan, epoch: int, stream: int, datasets: list[StreamedShards],
                 steps: Sequence[int]):
        self.plan, self.epoch, self.stream = plan, epoch, stream
        self.datasets = [d.fresh() for d in datasets]  # one shard open per stream and source
        self.slots = plan.slots(epoch, stream)
        micro = plan.micro
        self.needed: dict[tuple[int, int], set[int]] = {}
        for k in steps:
            for source, turn, position in self.slots[k * micro:(k + 1) * micro]:
                self.needed.setdefault((int(source), int(turn)), set()).add(int(position))
        self.pushes: dict[tuple[int, int], np.ndarray] = {}
        self.pointer: dict[tuple[int, int], int] = {}
        self.held: dict[tuple[int, int], dict[int, tuple]] = {}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        micro = self.plan.micro
        xs, ys = [], []
        for source, turn, position in self.slots[step * micro:(step + 1) * micro]:
            key, position = (int(source), int(turn)), int(position)
            if key not in self.pushes:
                self.pushes[key] = self.plan.pushes(self.epoch, self.stream, *key)
                self.pointer[key], self.held[key] = 0, {}
            dataset, pushes, held, needed = self.datasets[key[0]], self.pushes[key], self.held[key], self.needed[key]
            while self.pointer[key] <= position:  # push into the buffer up to this sample
                q = self.pointer[key]
                if q in needed:
                    held[q] = dataset.sample(int(pushes[q]))
                self.pointer[key] = q + 1
            x, y = dataset.item(held.pop(position), self.epoch, int(pushes[position]))
            xs.append(x)
            ys.append(y)
        return torch.stack(xs), torch.stack(ys)


class StreamDataset(IterableDataset):
    """The batches of one process: for each step of the epoch from `start_step` on, the samples of its streams
    (`streams`, a list of stream numbers) stacked in stream order. DataLoader workers share the steps (worker w
    of W gives steps start + w, start + w + W, ...; the DataLoader takes them in turn, so steps stay in order);
    each decodes only the samples of its own steps. Use with `batch_size=None`."""

    def __init__(self, plan: StreamPlan, datasets: list[StreamedShards], streams: Sequence[int]):
        self.plan, self.datasets, self.streams = plan, datasets, list(streams)
        self.epoch, self.start_step = 0, 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def __len__(self) -> int:
        return self.plan.steps - self.start_step

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        steps = [k for k in range(self.start_step, self.plan.steps) if (k - self.start_step) % workers == worker]
        walkers = [_Walker(self.plan, self.epoch, s, self.datasets, steps) for s in self.streams]
        for k in steps:
            parts = [walker.batch(k) for walker in walkers]
            yield torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


class StreamLoader:
    """The training batches of one process, as `Trainer` iterates them: `set_epoch(epoch, start_step)`, then
    iterate (x, y) batches; `len()` is the steps of a whole epoch. Workers are started per epoch (the epoch and
    start travel with the dataset they are given)."""

    def __init__(self, dataset: StreamDataset, workers: int = 0, pin_memory: bool = False):
        self.dataset, self.workers, self.pin_memory = dataset, workers, pin_memory

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.dataset.set_epoch(epoch, start_step)

    def __len__(self) -> int:
        return self.dataset.plan.steps

    def __iter__(self):
        loader = DataLoader(self.dataset, batch_size=None, num_workers=self.workers, pin_memory=self.pin_memory,
                            multiprocessing_context="spawn" if self.workers > 0 else None,
                            worker_init_fn=_worker_init if self.workers > 0 else None)
        return iter(loader)


def sample_bytes(roots: list[str], views: str, input_size: int | None, stride: int, labels: bool = False) -> int:
    """Bytes of one face's decoded training samples, from the first dataset's manifest: `ShardDataset.sample`
    (the images at the input size, the posmap of every `stride`-th row and column in float16 and its mask) or,
    with `labels` (multiview), `ShardDataset.target` (that posmap and mask) and `ShardDataset.face_views` (every
    view's image, segmentation, landmarks and cameras at the input size)."""
    from frontside.store.manifest import Manifest

    manifest = Manifest.load(roots[0])
    size = manifest.size
    side = input_size or size
    target = (size // stride) ** 2 * 7
    if not labels:
        return (2 if views == "both" else 1) * side * side * 3 + target
    n = manifest.parameters.get("views", 2)
    n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 2
    # a view: its image (uint8 x 3) and parts (uint8), 68 landmarks (float32 x 3) and their visibility, its pose
    # (float32 x 3), three 4 x 4 cameras and a 3 x 3 crop (float64); a face: about 64 float32 coefficients
    view = side * side * 4 + 68 * (3 * 4 + 1) + 3 * 4 + 3 * 16 * 8 + 9 * 8
    return target + n * view + 64 * 4


def run_layout(config, world, last_path: str | os.PathLike, views: str, input_size: int | None,
               stride: int, labels: bool = False) -> tuple[bool, int]:
    """(whether the run streams its data, its number of data streams).

    Streaming is `config.stream` when given, else on for a URL, for more than one process, for weighted mixing,
    and for data whose decoded samples would overflow the in-memory mode's sample cache
    (`config.sample_cache_gib`: a full shuffle would then decode every sample every epoch anyway, with gigabytes
    held), except with `labels` (multiview, which reads every view's labels and does not stream): such a run
    stays in memory and decodes its rows again each epoch (logged, as is an explicit `--no-stream` past the
    cache). A resumed run keeps the choice and the streams it started with whenever the new process count divides
    them, so its batches stay the same."""
    from frontside.learning.checkpoint.reader import read_checkpoint

    recorded = {}
    if config.resume and Path(last_path).is_file():
        recorded = read_checkpoint(last_path, "resume").get("config") or {}
    streams = config.streams or recorded.get("data_streams")
    if not streams or streams % world.size:
        streams = world.size
    if config.batch_size % streams:
        raise ParameterError("batch_size", f"{config.batch_size} is not a multiple of the {streams} data streams")
    remote = any(is_url(r) for r in list(config.data) + list(config.val))
    if config.stream is None:
        if recorded.get("streaming") is not None and not world.distributed:
            return bool(recorded["streaming"]), streams
        if world.distributed or config.data_weight or remote:
            return True, streams
    elif config.stream or remote:
        return config.stream, streams
    from frontside.store.manifest import Manifest

    rows = sum(Manifest.load(root).rows for root in config.data)
    needed = rows * sample_bytes(config.data, views, input_size, stride, labels)
    if needed <= config.sample_cache_bytes():
        return False, streams
    if config.stream is None and not labels:
        return True, streams
    log.warning("%s: the %d faces' decoded samples (~%.1f GiB) overflow the %.1f GiB sample cache: every "
                "epoch decodes them again (a larger --sample-cache-gib keeps them)", config.data[0], rows,
                needed / 2 ** 30, config.sample_cache_gib)
    return False, streams


def _source_seed(seed: int, source: int) -> int:
    """The augmentation seed of the `source`-th dataset (the first keeps the run's: rows of two datasets with
    the same index draw differently)."""
    return seed if source == 0 else int(np.random.SeedSequence([seed, source]).generate_state(1)[0])


def stream_run_data(config, world, streams: int, views: str, input_size: int | None, stride: int, workers: int,
                    pin_memory: bool) -> tuple[StreamedShards, StreamLoader, StreamedShards, DataLoader]:
    """This process's data in a streaming run: (the first 64 training rows, the training batches of its
    streams, its share of the validation rows (whole shards dealt by rank), their loader). The split of --data
    into training and validation rows is the in-memory mode's (`holdout_split`)."""
    from frontside.learning.data import make_loader

    fetcher = ShardFetcher(config.cache_dir, int(config.cache_gb * 1e9))
    augment = config.recipe()[3]
    sources = [StreamedShards(root, views, augment, _source_seed(config.seed, d), input_size=input_size,
                              target_stride=stride, fetcher=fetcher) for d, root in enumerate(config.data)]
    offsets = np.cumsum([0] + [len(s) for s in sources])
    if config.val:
        train_rows, val_set = None, StreamedShards(config.val, views, False, config.seed, input_size=input_size,
                                                   fetcher=fetcher)
        val_rows = list(range(len(val_set)))
    else:
        train_rows, val_rows = holdout_split(int(offsets[-1]), config.val_fraction, config.seed)
        val_set = StreamedShards(config.data, views, False, config.seed, input_size=input_size, fetcher=fetcher)
    mine = [i for i in val_rows if val_set.rows[i][0] % world.size == world.rank]
    val_set.rows = [val_set.rows[i] for i in mine]
    pieces = []
    for d, source in enumerate(sources):
        keep = None if train_rows is None else [i - int(offsets[d]) for i in train_rows
                                                if offsets[d] <= i < offsets[d + 1]]
        pieces.append(pieces_of(source, d, keep, streams))
    plan = StreamPlan(pieces, streams, config.batch_size // streams, config.seed, config.data_weight or None,
                      config.shuffle_buffer)
    own = [s for s in range(streams) if s % world.size == world.rank]
    loader = StreamLoader(StreamDataset(plan, sources, own), workers, pin_memory)
    first = list(range(64)) if train_rows is None else train_rows[:64]
    start = StreamedShards(config.data, views, False, config.seed, indices=[i for i in first if i < offsets[-1]],
                           input_size=input_size, fetcher=fetcher)
    log.info("rank %d of %d: streams %s of %d, %d steps an epoch, %d validation rows", world.rank, world.size,
             own, streams, plan.steps, len(val_set))
    return start, loader, val_set, make_loader(val_set, max(1, config.batch_size // world.size), workers=workers)
