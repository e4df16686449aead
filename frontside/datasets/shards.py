"""Parquet shards of training pairs and the dataset manifest (format: ARCHITECTURE.md, "Shard format").

Writes are atomic (temporary name, then rename) and deterministic: the same pairs give the same bytes, so a
shard's sha256 in the manifest both verifies it and proves that a re-run reproduced it.
"""

from __future__ import annotations

import hashlib
import io
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

# The manifest and the listing of a dataset live in `manifest.py`; importable from here too, where readers look.
from frontside.datasets.manifest import (  # noqa: F401
    MANIFEST_NAME,
    Manifest,
    ShardInfo,
    code_version,
    list_shards,
    shard_is_valid,
    shard_name,
    verify,
)
from frontside.datasets.records import Pair, PairMeta
from frontside.errors import DataIntegrityError
from frontside.io import join, read_bytes, url_to_fs, write_atomic
from frontside.pictures import encode_png

FORMAT_VERSION = "1"
POSMAP_SHAPE = (256, 256, 3)
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
    write_atomic(url, data)
    return ShardInfo(name=posixpath.basename(str(url)), rows=len(pairs), sha256=hashlib.sha256(data).hexdigest(),
                     nbytes=len(data))


def read_shard(url: str, expected: ShardInfo | None = None) -> pa.Table:
    """The shard's table; with `expected`, its sha256 and row count are checked first.

    A missing, truncated or mismatching file raises DataIntegrityError naming the file.
    """
    fs, path = url_to_fs(url)
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


def write_uv_regions(root: str, uv_regions: np.ndarray) -> str:
    url = join(root, UV_REGIONS_NAME)
    write_atomic(url, encode_png(np.asarray(uv_regions, np.uint8)))
    return url


def read_uv_regions(root: str) -> np.ndarray:
    """(256, 256) uint8 `Region` label per UV pixel (255 uncovered) of the dataset's face model.

    The PNG's header is checked before its pixels are decoded: a corrupt file or one declaring another size
    (a "decompression bomb" declares billions of pixels) is an error naming it.
    """
    url = join(root, UV_REGIONS_NAME)
    fs, path = url_to_fs(url)
    if not fs.exists(path):
        raise DataIntegrityError(f"{url}: missing (the loss weight mask is built from it)")
    try:
        with Image.open(io.BytesIO(read_bytes(url))) as im:
            if im.size != POSMAP_SHAPE[1::-1] or im.mode != "L":
                raise DataIntegrityError(f"{url}: image is {im.size[0]} x {im.size[1]} mode {im.mode}, expected "
                                         f"{POSMAP_SHAPE[1]} x {POSMAP_SHAPE[0]} mode L (one region label a pixel)")
            return np.asarray(im)
    except DataIntegrityError:
        raise
    except Image.DecompressionBombError:
        raise DataIntegrityError(f"{url}: image declares more pixels than any image we read (a decompression "
                                 f"bomb?); expected {POSMAP_SHAPE[1]} x {POSMAP_SHAPE[0]}") from None
    except Exception as exc:  # PIL raises many unrelated types for truncated or foreign files
        raise DataIntegrityError(f"{url}: not a readable PNG ({type(exc).__name__})") from None

