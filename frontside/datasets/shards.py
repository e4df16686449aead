"""Parquet shards of training pairs and the dataset manifest (format: ARCHITECTURE.md, "Shard format").

Writes are atomic (temporary name, then rename) and deterministic: the same pairs give the same bytes, so a
shard's sha256 in the manifest both verifies it and proves that a re-run reproduced it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import subprocess
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem
from PIL import Image

import frontside
from frontside.datasets.records import Pair, PairMeta
from frontside.errors import DataIntegrityError
from frontside.pictures import encode_png

FORMAT_VERSION = "1"
POSMAP_SHAPE = (256, 256, 3)
MANIFEST_NAME = "manifest.json"
UV_REGIONS_NAME = "uv_regions.png"

SCHEMA = pa.schema(
    [
        ("face_id", pa.string()), ("seed", pa.int64()), ("face_index", pa.int64()),
        ("source", pa.string()), ("renderer", pa.string()), ("model", pa.string()), ("side", pa.string()),
        ("front_yaw", pa.float32()), ("front_pitch", pa.float32()), ("front_roll", pa.float32()),
        ("side_yaw", pa.float32()), ("side_pitch", pa.float32()), ("side_roll", pa.float32()),
        ("front_png", pa.binary()), ("side_png", pa.binary()), ("posmap", pa.binary()),
        ("mask_png", pa.binary()), ("landmarks", pa.binary()),
    ],
    metadata={"frontside.format": FORMAT_VERSION, "posmap_shape": "256,256,3", "posmap_dtype": "<f2",
              "landmarks_shape": "68,3", "landmarks_dtype": "<f4"},
)
# Every writer option that shapes the bytes, spelled out, so a change of pyarrow's defaults cannot change them;
# no statistics (min/max of PNG blobs are noise), no dictionaries (unique blobs), one row group per shard.
# The footer's created_by names pyarrow's version (pyarrow offers no way to fix it): pin pyarrow to pin bytes.
WRITER_OPTIONS = dict(version="2.6", compression="zstd", compression_level=3, use_dictionary=False,
                      write_statistics=False, data_page_version="1.0", data_page_size=1 << 20,
                      write_page_index=False, write_page_checksum=False, store_schema=True)
_ANGLES = ["front_yaw", "front_pitch", "front_roll", "side_yaw", "side_pitch", "side_roll"]


@dataclass(frozen=True)
class ShardInfo:
    """What the manifest records of one shard."""

    name: str
    rows: int
    sha256: str
    nbytes: int


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def join(root: str, name: str) -> str:
    """`root/name` for local paths and URLs alike."""
    return posixpath.join(str(root).rstrip("/"), name) if "://" in str(root) else str(Path(root) / name)


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Write to `.<name>.tmp-<random>` beside the target, then rename it into place: readers never see half a
    file, and a failure (full disk, a kill) leaves at most a hidden temp file, never a partial `<name>`."""
    fs, path = fsspec.core.url_to_fs(url)
    parent = posixpath.dirname(path)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.{posixpath.basename(path)}.tmp-{uuid.uuid4().hex}"
    try:
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        if isinstance(fs, LocalFileSystem):
            # os.replace is one rename(2): atomic, and it refuses to move the file *into* a directory of that
            # name, which fsspec's shutil.move-based mv would do silently
            os.replace(tmp, path)
        else:
            fs.mv(tmp, path)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except OSError:
            pass  # the original error matters more than a leftover hidden temp file
        raise


def pairs_to_table(pairs: list[Pair], extra_meta: dict[str, str] | None = None) -> pa.Table:
    """The shard table of `pairs` (schema `SCHEMA`; `extra_meta` added to its key/value metadata)."""
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for pair in pairs:
        meta = pair.meta.as_dict()
        for key in ("face_id", "seed", "face_index", "source", "renderer", "model", "side", *_ANGLES):
            columns[key].append(meta[key])
        if pair.posmap.shape != POSMAP_SHAPE:
            raise ValueError(f"posmap of {pair.meta.face_id} has shape {pair.posmap.shape}, expected {POSMAP_SHAPE}")
        columns["front_png"].append(encode_png(pair.front))
        columns["side_png"].append(encode_png(pair.side))
        columns["posmap"].append(np.ascontiguousarray(pair.posmap, dtype="<f2").tobytes())
        columns["mask_png"].append(encode_png(np.asarray(pair.mask, bool)))
        columns["landmarks"].append(np.ascontiguousarray(pair.landmarks, dtype="<f4").tobytes())
    schema = SCHEMA
    if extra_meta:
        clash = set(extra_meta) & {k.decode() for k in SCHEMA.metadata}
        if clash:
            raise ValueError(f"extra_meta may not override the format's own keys {sorted(clash)}")
        # sorted, as strings: the metadata is part of the file's bytes
        schema = SCHEMA.with_metadata({**{k.decode(): v.decode() for k, v in SCHEMA.metadata.items()},
                                       **{str(k): str(extra_meta[k]) for k in sorted(extra_meta)}})
    return pa.table(columns, schema=schema)


def write_shard(url: str, pairs: list[Pair], extra_meta: dict[str, str] | None = None) -> ShardInfo:
    """Write pairs as one Parquet shard at `url` (atomically); returns its name, rows, sha256 and size.

    The bytes depend only on the pairs and `extra_meta`: PNGs use a fixed zlib level, the writer's options are
    fixed, and nothing time- or machine-dependent goes in (pyarrow's created_by names its version only).
    """
    buf = io.BytesIO()
    pq.write_table(pairs_to_table(pairs, extra_meta), buf, row_group_size=max(len(pairs), 1), **WRITER_OPTIONS)
    data = buf.getvalue()
    write_bytes_atomic(url, data)
    return ShardInfo(name=posixpath.basename(str(url)), rows=len(pairs), sha256=hashlib.sha256(data).hexdigest(),
                     nbytes=len(data))


def file_sha256(url: str) -> str | None:
    """sha256 of a file, or None when it does not exist."""
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return None
    h = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_shard(url: str, expected: ShardInfo | None = None) -> pa.Table:
    """The shard's table; with `expected`, its sha256 and row count are checked first.

    A missing, truncated or mismatching file raises DataIntegrityError naming the file.
    """
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        raise DataIntegrityError(f"{url}: shard is missing")
    with fs.open(path, "rb") as fh:
        data = fh.read()
    if expected is not None and hashlib.sha256(data).hexdigest() != expected.sha256:
        raise DataIntegrityError(f"{url}: sha256 does not match the manifest (truncated or overwritten?)")
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:
        raise DataIntegrityError(f"{url}: not a readable Parquet file ({exc})") from None
    if table.schema.metadata is None or table.schema.metadata.get(b"frontside.format") != FORMAT_VERSION.encode():
        raise DataIntegrityError(f"{url}: not a frontside shard (schema metadata frontside.format missing)")
    if expected is not None and table.num_rows != expected.rows:
        raise DataIntegrityError(f"{url}: {table.num_rows} rows, manifest says {expected.rows}")
    return table


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def decode_row(table: pa.Table, i: int) -> Pair:
    """Row `i` of a shard table as a `Pair` (posmap back to float32)."""
    row = {name: table.column(name)[i].as_py() for name in table.column_names}
    meta = PairMeta(**{k: row[k] for k in PairMeta.__dataclass_fields__})
    return Pair(
        front=decode_png(row["front_png"]),
        side=decode_png(row["side_png"]),
        posmap=np.frombuffer(row["posmap"], dtype="<f2").reshape(POSMAP_SHAPE).astype(np.float32),
        mask=decode_png(row["mask_png"]).astype(bool),
        landmarks=np.frombuffer(row["landmarks"], dtype="<f4").reshape(68, 3).copy(),
        meta=meta,
    )


def code_version() -> str:
    """frontside's version, plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                                cwd=Path(frontside.__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return f"{frontside.__version__}+{commit}" if commit else frontside.__version__


@dataclass
class Manifest:
    """`manifest.json` at a dataset root: how it was made and what each shard must be."""

    parameters: dict
    shards: dict[str, ShardInfo] = field(default_factory=dict)
    code_version: str = ""
    format: str = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards.values())

    def to_json(self) -> str:
        body = {"format": self.format, "code_version": self.code_version, "parameters": self.parameters,
                "extra": self.extra, "rows": self.rows,
                "shards": [asdict(self.shards[k]) for k in sorted(self.shards)]}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    def save(self, root: str) -> str:
        url = join(root, MANIFEST_NAME)
        write_bytes_atomic(url, self.to_json().encode())
        return url

    @classmethod
    def load(cls, root: str) -> Manifest:
        url = join(root, MANIFEST_NAME)
        fs, path = fsspec.core.url_to_fs(url)
        if not fs.exists(path):
            raise DataIntegrityError(f"{url}: no manifest (is this a frontside dataset folder?)")
        try:
            with fs.open(path, "r") as fh:
                body = json.load(fh)
            shards = {s["name"]: ShardInfo(**s) for s in body["shards"]}
            return cls(parameters=body["parameters"], shards=shards, code_version=body.get("code_version", ""),
                       format=body.get("format", FORMAT_VERSION), extra=body.get("extra", {}))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise DataIntegrityError(f"{url}: malformed manifest ({exc})") from None

    @classmethod
    def load_or_none(cls, root: str) -> Manifest | None:
        try:
            return cls.load(root)
        except DataIntegrityError:
            return None


def shard_is_valid(root: str, info: ShardInfo | None) -> bool:
    """True when the shard the manifest names exists with the recorded sha256."""
    return info is not None and file_sha256(join(root, info.name)) == info.sha256


def verify(root: str) -> list[str]:
    """Names of the manifest's shards that are missing or corrupt."""
    manifest = Manifest.load(root)
    return [name for name, info in sorted(manifest.shards.items()) if not shard_is_valid(root, info)]


def write_uv_regions(root: str, uv_regions: np.ndarray) -> str:
    url = join(root, UV_REGIONS_NAME)
    write_bytes_atomic(url, encode_png(np.asarray(uv_regions, np.uint8)))
    return url


def read_uv_regions(root: str) -> np.ndarray:
    """(256, 256) uint8 `Region` label per UV pixel (255 uncovered) of the dataset's face model."""
    url = join(root, UV_REGIONS_NAME)
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        raise DataIntegrityError(f"{url}: missing (the loss weight mask is built from it)")
    with fs.open(path, "rb") as fh:
        return decode_png(fh.read())


def list_shards(root: str) -> list[tuple[str, ShardInfo]]:
    """(url, info) of every shard the manifest lists, in order."""
    manifest = Manifest.load(root)
    return [(join(root, name), manifest.shards[name]) for name in sorted(manifest.shards)]
