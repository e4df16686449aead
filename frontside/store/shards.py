"""Parquet shards of training pairs (format: ARCHITECTURE.md, "Shard format"); the manifest is `manifest.py`.

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

from frontside.errors import DataIntegrityError
from frontside.io import url_to_fs, write_atomic
from frontside.pictures import encode_png
from frontside.renderers.camera import Camera
from frontside.renderers.lighting import Lighting
from frontside.store.hf_features import IMAGE_TYPE, huggingface_metadata
from frontside.store.layout import DEFAULT_SIZE, FORMAT_VERSION, READABLE_FORMATS
from frontside.store.manifest import ShardInfo
from frontside.store.records import Pair, PairMeta, ViewLabels

POSMAP_SHAPE = (DEFAULT_SIZE, DEFAULT_SIZE, 3)  # format 1's only shape; format 2 records its own
# How the row PNGs are written: zlib level 1 (4-6x faster than level 6 for ~12% more bytes) and the "up" filter
# on every row instead of libpng's trial of all five per row (photos ~35% faster for 0.1% more bytes); the
# label maps, long runs of one value, with zlib's RLE strategy too (segmentation 3.5x faster and 37% smaller).
# Masks are 1-bit. Figures: benchmarks/generate_stages.py. Other options give other bytes, the same pixels.
PHOTO_PNG = dict(compress_level=1, png_filter="up")
LABEL_PNG = dict(compress_level=1, png_filter="up", rle=True)
PNG_OPTIONS = {"front_png": PHOTO_PNG, "side_png": PHOTO_PNG, "mask_png": LABEL_PNG,
               "front_segmentation": LABEL_PNG, "side_segmentation": LABEL_PNG}


def array_type(shape: tuple[int, ...], value_type: pa.DataType) -> pa.DataType:
    """Nested fixed-size lists holding a C-order array of `shape` (no nulls inside: no definition levels)."""
    arrow_type = value_type
    for n in reversed(shape):
        arrow_type = pa.list_(pa.field("item", arrow_type, nullable=False), n)
    return arrow_type


CAMERA_FIELDS = ("world_to_eye", "eye_to_clip", "clip_to_image")
CAMERA_TYPE = pa.struct([(name, array_type((4, 4), pa.float64())) for name in CAMERA_FIELDS]
                        + [("crop", array_type((3, 3), pa.float64()))])
LIGHTING_TYPE = pa.struct([("ambient", pa.float32()), ("towards", pa.list_(array_type((3,), pa.float32()))),
                           ("intensities", pa.list_(pa.float32()))])
_META_FIELDS = [("face_id", pa.string()), ("seed", pa.int64()), ("face_index", pa.int64()), ("source", pa.string()),
                ("renderer", pa.string()), ("model", pa.string()), ("side", pa.string())]
_ANGLES = ["front_yaw", "front_pitch", "front_roll", "side_yaw", "side_pitch", "side_roll"]
# what `decode_row` needs for a Pair without view labels (the columns of format 1)
TRAINING_COLUMNS = [name for name, _ in _META_FIELDS] + _ANGLES + ["front_png", "side_png", "posmap", "mask_png",
                                                                  "landmarks"]
IMAGE_COLUMNS = {"front_png", "side_png", "mask_png", "front_segmentation", "side_segmentation"}
LABEL_COLUMNS = ("front_segmentation", "side_segmentation", "side_landmarks", "front_visible", "side_visible",
                 "front_camera", "side_camera", "front_lighting", "side_lighting", "skin_tone")
DEPTH_COLUMNS = ("front_depth", "side_depth")


def shard_schema(size: int = DEFAULT_SIZE, labels: bool = True, depth: bool = False) -> pa.Schema:
    """The Arrow schema of a format-2 shard of `size` x `size` pairs, with Hugging Face feature metadata.

    labels: the per-view segmentation, landmarks + visibility, camera and lighting columns, and the skin tone;
    depth: the per-view depth maps (float16, NaN off the face)."""
    image, landmarks = IMAGE_TYPE, array_type((68, 3), pa.float32())
    fields = _META_FIELDS + [(name, pa.float32()) for name in _ANGLES] + [
        ("front_png", image), ("side_png", image), ("posmap", array_type((size, size, 3), pa.float16())),
        ("mask_png", image), ("landmarks", landmarks)]
    if labels:
        visible = array_type((68,), pa.bool_())
        fields += [("front_segmentation", image), ("side_segmentation", image), ("side_landmarks", landmarks),
                   ("front_visible", visible), ("side_visible", visible), ("front_camera", CAMERA_TYPE),
                   ("side_camera", CAMERA_TYPE), ("front_lighting", LIGHTING_TYPE), ("side_lighting", LIGHTING_TYPE),
                   ("skin_tone", array_type((3,), pa.float32()))]
    if depth:
        fields += [(name, array_type((size, size), pa.float16())) for name in DEPTH_COLUMNS]
    schema = pa.schema(fields)
    return schema.with_metadata({
        "frontside.format": FORMAT_VERSION, "image_size": str(size), "posmap_shape": f"{size},{size},3",
        "posmap_dtype": "<f2", "landmarks_shape": "68,3", "landmarks_dtype": "<f4",
        "huggingface": huggingface_metadata(schema, IMAGE_COLUMNS)})


SCHEMA = shard_schema()  # the default shard's schema (256 x 256, labels, no depth)
# Every writer option that shapes the bytes, spelled out, so a change of pyarrow's defaults cannot change them;
# no statistics (min/max of PNG blobs are noise), no dictionaries (unique blobs), one row group per shard.
# The footer's created_by names pyarrow's version (pyarrow offers no way to fix it): pin pyarrow to pin bytes.
WRITER_OPTIONS = dict(version="2.6", compression="zstd", compression_level=3, use_dictionary=False,
                      write_statistics=False, data_page_version="1.0", data_page_size=1 << 20,
                      write_page_index=False, write_page_checksum=False, store_schema=True)


def writer_options(schema: pa.Schema) -> dict:
    """`WRITER_OPTIONS` with the float16 arrays (posmap, depth) byte-stream-split: their high bytes (sign,
    exponent, top of the mantissa) vary slowly over a map and compress well apart from the noisy low bytes
    (posmap 321 -> 209 kB a pair, the whole row 23% smaller, and faster to write). Readers need pyarrow >= 17;
    what the columns hold is unchanged."""
    leaves = []
    for field in schema:
        path, arrow_type = [field.name], field.type
        while pa.types.is_fixed_size_list(arrow_type):
            path += ["list", "element"]  # how Parquet names a list's levels
            arrow_type = arrow_type.value_type
        if arrow_type == pa.float16() and len(path) > 1:
            leaves.append(".".join(path))
    return {**WRITER_OPTIONS, "use_byte_stream_split": leaves}


def _images(column: str, images: list[np.ndarray]) -> pa.Array:
    """An image column: each image as PNG bytes (`PNG_OPTIONS[column]`) in `datasets.Image`'s storage."""
    blobs = [encode_png(image, **PNG_OPTIONS[column]) for image in images]
    return pa.StructArray.from_arrays([pa.array(blobs, pa.binary()), pa.nulls(len(blobs), pa.string())],
                                      fields=list(IMAGE_TYPE))


def _arrays(arrays: list[np.ndarray], arrow_type: pa.DataType, dtype: str) -> pa.Array:
    """Stacked numpy arrays (all of the shape `arrow_type` nests) as one fixed-size-list column, no copies of
    Python objects; each array is converted straight into its place (no float32 stack first)."""
    flat = np.empty((len(arrays), *np.shape(arrays[0])), dtype)
    for i, array in enumerate(arrays):
        flat[i] = array
    flat = flat.reshape(-1)
    leaf = arrow_type
    while pa.types.is_fixed_size_list(leaf):
        leaf = leaf.value_type
    values = pa.array(flat) if leaf == pa.bool_() else pa.Array.from_buffers(leaf, len(flat), [None, pa.py_buffer(flat)])
    nest = []
    t = arrow_type
    while pa.types.is_fixed_size_list(t):
        nest.append(t)
        t = t.value_type
    for t in reversed(nest):
        values = pa.FixedSizeListArray.from_arrays(values, type=t)
    return values


def _camera_row(camera: Camera | None) -> dict | None:
    if camera is None:
        return None
    return {"world_to_eye": camera.world_to_eye.tolist(), "eye_to_clip": camera.eye_to_clip.tolist(),
            "clip_to_image": camera.clip_to_image.tolist(), "crop": np.asarray(camera.crop).tolist()}


def _lighting_row(lighting: Lighting | None) -> dict | None:
    if lighting is None:
        return None
    return {"ambient": float(lighting.ambient), "towards": np.asarray(lighting.towards, np.float32).tolist(),
            "intensities": np.asarray(lighting.intensities, np.float32).tolist()}


def _shape_of(pairs: list[Pair]) -> tuple[int, bool, bool]:
    """(size, labels, depth) that every pair must share: a shard has one schema."""
    if not pairs:
        return DEFAULT_SIZE, True, False
    first = pairs[0]
    shape = (first.size, first.front_view is not None, first.front_view is not None and first.front_view.depth is not None)
    for pair in pairs:
        size = pair.size
        if pair.posmap.shape != (size, size, 3) or pair.front.shape[:2] != (size, size) \
                or pair.side.shape[:2] != (size, size) or pair.mask.shape != (size, size):
            raise ValueError(f"pair {pair.meta.face_id}: images {pair.front.shape}, {pair.side.shape}, posmap "
                             f"{pair.posmap.shape} and mask {pair.mask.shape} must all be {size} x {size}")
        has = (size, pair.front_view is not None and pair.side_view is not None,
               pair.front_view is not None and pair.front_view.depth is not None)
        if has != shape:
            raise ValueError(f"pair {pair.meta.face_id} has (size, labels, depth) = {has}, the shard's first pair "
                             f"{first.meta.face_id} has {shape}: a shard has one schema")
    return shape


def pairs_to_table(pairs: list[Pair], extra_meta: dict[str, str] | None = None) -> pa.Table:
    """The shard table of `pairs` (`shard_schema` of their size and columns; `extra_meta` added to its key/value
    metadata)."""
    size, labels, depth = _shape_of(pairs)
    schema = shard_schema(size, labels, depth)
    metas = [pair.meta.as_dict() for pair in pairs]
    columns: dict[str, pa.Array] = {name: pa.array([m[name] for m in metas], arrow_type)
                                    for name, arrow_type in _META_FIELDS}
    columns.update({name: pa.array([m[name] for m in metas], pa.float32()) for name in _ANGLES})
    columns["front_png"] = _images("front_png", [p.front for p in pairs])
    columns["side_png"] = _images("side_png", [p.side for p in pairs])
    columns["posmap"] = _arrays([p.posmap for p in pairs], schema.field("posmap").type, "<f2")
    columns["mask_png"] = _images("mask_png", [np.asarray(p.mask, bool) for p in pairs])
    columns["landmarks"] = _arrays([p.landmarks for p in pairs], schema.field("landmarks").type, "<f4")
    if labels:
        for view in ("front", "side"):
            views = [getattr(p, f"{view}_view") for p in pairs]
            columns[f"{view}_segmentation"] = _images(f"{view}_segmentation", [v.segmentation for v in views])
            columns[f"{view}_visible"] = _arrays([v.visible for v in views], schema.field(f"{view}_visible").type,
                                                 "bool")
            columns[f"{view}_camera"] = pa.array([_camera_row(v.camera) for v in views], CAMERA_TYPE)
            columns[f"{view}_lighting"] = pa.array([_lighting_row(v.lighting) for v in views], LIGHTING_TYPE)
            if depth:
                columns[f"{view}_depth"] = _arrays([v.depth for v in views], schema.field(f"{view}_depth").type,
                                                   "<f2")
        columns["side_landmarks"] = _arrays([p.side_view.landmarks for p in pairs],
                                            schema.field("side_landmarks").type, "<f4")
        columns["skin_tone"] = pa.array([None if p.skin_tone is None else np.asarray(p.skin_tone, np.float32).tolist()
                                         for p in pairs], schema.field("skin_tone").type)
    if extra_meta:
        own = {k.decode(): v.decode() for k, v in schema.metadata.items()}
        clash = set(extra_meta) & set(own)
        if clash:
            raise ValueError(f"extra_meta may not override the format's own keys {sorted(clash)}")
        # sorted, as strings: the metadata is part of the file's bytes
        schema = schema.with_metadata({**own, **{str(k): str(extra_meta[k]) for k in sorted(extra_meta)}})
    return pa.table([columns[name] for name in schema.names], schema=schema)


def write_shard(url: str, pairs: list[Pair], extra_meta: dict[str, str] | None = None) -> ShardInfo:
    """Write pairs as one Parquet shard at `url` (atomically); returns its name, rows, sha256 and size.

    The bytes depend only on the pairs and `extra_meta`: the PNGs' options (`PNG_OPTIONS`) and the writer's are
    fixed, and nothing time- or machine-dependent goes in (pyarrow's created_by names its version only).
    """
    table = pairs_to_table(pairs, extra_meta)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=max(len(pairs), 1), **writer_options(table.schema))
    data = buf.getvalue()
    write_atomic(url, data)
    return ShardInfo(name=posixpath.basename(str(url)), rows=len(pairs), sha256=hashlib.sha256(data).hexdigest(),
                     nbytes=len(data))


def read_shard(url: str, expected: ShardInfo | None = None, columns: list[str] | None = None) -> pa.Table:
    """The shard's table (only `columns` when given, e.g. `TRAINING_COLUMNS`); with `expected`, its sha256 and
    row count are checked first.

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
        # single-threaded: with its thread pool, pyarrow 26 aborts ~1 process in 4 at exit after reading these
        # nested columns ("terminate called without an active exception"); a shard decodes fast on one thread
        table = pq.read_table(io.BytesIO(data), columns=columns, use_threads=False)
    except Exception as exc:
        raise DataIntegrityError(f"{url}: not a readable Parquet file ({exc})") from None
    found = (table.schema.metadata or {}).get(b"frontside.format")
    if found is None:
        raise DataIntegrityError(f"{url}: not a frontside shard (schema metadata frontside.format missing)")
    if found.decode() not in READABLE_FORMATS:
        raise DataIntegrityError(f"{url}: frontside.format {found.decode()} is not one this version reads "
                                 f"({', '.join(READABLE_FORMATS)}): update frontside")
    if expected is not None and table.num_rows != expected.rows:
        raise DataIntegrityError(f"{url}: {table.num_rows} rows, manifest says {expected.rows}")
    return table


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def shard_size(table: pa.Table) -> int:
    """The side of a shard's images and position maps (from its schema metadata; 256 for format 1)."""
    meta = table.schema.metadata or {}
    return int(meta[b"posmap_shape"].split(b",")[0]) if b"posmap_shape" in meta else DEFAULT_SIZE


def _cell(table: pa.Table, name: str, i: int) -> pa.Array:
    """Row i of a column as a one-element array of its chunk (no conversion of the rest)."""
    for chunk in table.column(name).chunks:
        if i < len(chunk):
            return chunk.slice(i, 1)
        i -= len(chunk)
    raise IndexError(f"row {i} is past the table's end")


def _array_cell(table: pa.Table, name: str, i: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    cell = _cell(table, name, i)
    while pa.types.is_fixed_size_list(cell.type):
        cell = cell.flatten()
    return cell.to_numpy(zero_copy_only=False).reshape(shape).astype(dtype)


def _matrices(cell: dict | None, size: int) -> Camera | None:
    if cell is None:
        return None
    return Camera(*(np.array(cell[name], np.float64) for name in CAMERA_FIELDS), size=size,
                  crop=np.array(cell["crop"], np.float64))


def _lights(cell: dict | None) -> Lighting | None:
    if cell is None:
        return None
    return Lighting(float(cell["ambient"]), np.array(cell["towards"], np.float64).reshape(-1, 3),
                    np.array(cell["intensities"], np.float64))


def _view(table: pa.Table, i: int, view: str, landmarks: np.ndarray, size: int) -> ViewLabels:
    depth_column = f"{view}_depth"
    return ViewLabels(
        segmentation=decode_png(_cell(table, f"{view}_segmentation", i)[0].as_py()["bytes"]),
        depth=(_array_cell(table, depth_column, i, (size, size), np.float32)
               if depth_column in table.column_names else None),
        landmarks=landmarks,
        visible=_array_cell(table, f"{view}_visible", i, (68,), bool),
        camera=_matrices(_cell(table, f"{view}_camera", i)[0].as_py(), size),
        lighting=_lights(_cell(table, f"{view}_lighting", i)[0].as_py()))


def decode_row(table: pa.Table, i: int) -> Pair:
    """Row `i` of a shard table (format 1 or 2) as a `Pair` (posmap back to float32; view labels where the shard
    has them)."""
    if (table.schema.metadata or {}).get(b"frontside.format") == b"1":
        return _decode_row_v1(table, i)
    size = shard_size(table)
    meta = PairMeta(**{k: _cell(table, k, i)[0].as_py() for k in PairMeta.__dataclass_fields__})

    def png(name: str) -> np.ndarray:
        return decode_png(_cell(table, name, i)[0].as_py()["bytes"])

    landmarks = _array_cell(table, "landmarks", i, (68, 3), np.float32)
    front_view = side_view = skin_tone = None
    if "front_segmentation" in table.column_names:
        front_view = _view(table, i, "front", landmarks, size)
        side_view = _view(table, i, "side", _array_cell(table, "side_landmarks", i, (68, 3), np.float32), size)
        tone = _cell(table, "skin_tone", i)[0].as_py()
        skin_tone = None if tone is None else np.array(tone, np.float32)
    return Pair(front=png("front_png"), side=png("side_png"),
                posmap=_array_cell(table, "posmap", i, (size, size, 3), np.float32),
                mask=png("mask_png").astype(bool), landmarks=landmarks, meta=meta,
                front_view=front_view, side_view=side_view, skin_tone=skin_tone)


def _decode_row_v1(table: pa.Table, i: int) -> Pair:
    row = {name: _cell(table, name, i)[0].as_py() for name in table.column_names}
    meta = PairMeta(**{k: row[k] for k in PairMeta.__dataclass_fields__})
    return Pair(
        front=decode_png(row["front_png"]),
        side=decode_png(row["side_png"]),
        posmap=np.frombuffer(row["posmap"], dtype="<f2").reshape(POSMAP_SHAPE).astype(np.float32),
        mask=decode_png(row["mask_png"]).astype(bool),
        landmarks=np.frombuffer(row["landmarks"], dtype="<f4").reshape(68, 3).copy(),
        meta=meta,
    )
