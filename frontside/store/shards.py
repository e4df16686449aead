"""Parquet shards of faces, one row a face with its N views (format: ARCHITECTURE.md, "Shard format"); the
manifest is `manifest.py`.

Writes are atomic (temporary name, then rename) and deterministic: the same faces give the same bytes, so a
shard's sha256 in the manifest both verifies it and proves that a re-run reproduced it.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image

from frontside.errors import DataIntegrityError
from frontside.facemodel.model import Coefficients
from frontside.io import url_to_fs, write_atomic
from frontside.pictures import encode_png
from frontside.renderers.camera import Camera
from frontside.renderers.lighting import Lighting
from frontside.store.hf_features import IMAGE_TYPE, huggingface_metadata
from frontside.store.layout import DEFAULT_SIZE, FORMAT_VERSION, READABLE_FORMATS
from frontside.store.manifest import ShardInfo
from frontside.store.records import Face, FaceMeta, View, ViewLabels

POSMAP_SHAPE = (DEFAULT_SIZE, DEFAULT_SIZE, 3)  # format 1's only shape; formats 2 and 3 record their own
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


def side_list(value_type: pa.DataType) -> pa.DataType:
    """A format-3 side column: a list with one `value_type` item per side view. Items are nullable (a camera or
    lights may be null), as `datasets` declares its lists: a list of images is then its `Sequence(Image())`."""
    return pa.list_(value_type)


CAMERA_FIELDS = ("world_to_eye", "eye_to_clip", "clip_to_image")
CAMERA_TYPE = pa.struct([(name, array_type((4, 4), pa.float64())) for name in CAMERA_FIELDS]
                        + [("crop", array_type((3, 3), pa.float64()))])
LIGHTING_TYPE = pa.struct([("ambient", pa.float32()), ("towards", pa.list_(array_type((3,), pa.float32()))),
                           ("intensities", pa.list_(pa.float32()))])
COEFFICIENTS_TYPE = pa.list_(pa.field("item", pa.float32(), nullable=False))
_META_FIELDS = [("face_id", pa.string()), ("seed", pa.int64()), ("face_index", pa.int64()), ("source", pa.string()),
                ("renderer", pa.string()), ("model", pa.string())]
_ANGLES = ("yaw", "pitch", "roll")
# what `decode_row` needs for a face without view labels (the columns of format 1; formats 2 and 3 keep their
# names, so a reader of an older format that reads only these still reaches its format check)
TRAINING_COLUMNS = ([name for name, _ in _META_FIELDS] + ["side"] + [f"{view}_{angle}" for view in ("front", "side")
                                                                     for angle in _ANGLES]
                    + ["front_png", "side_png", "posmap", "mask_png", "landmarks"])
# what `decode_row` needs for every view with its landmarks, visibility, camera and parts, and the coefficients
VIEW_COLUMNS = TRAINING_COLUMNS + ["front_segmentation", "side_segmentation", "side_landmarks", "front_visible",
                                   "side_visible", "front_camera", "side_camera", "identity", "expression"]
IMAGE_COLUMNS = {"front_png", "side_png", "mask_png", "front_segmentation", "side_segmentation"}
LABEL_COLUMNS = ("front_segmentation", "side_segmentation", "side_landmarks", "front_visible", "side_visible",
                 "front_camera", "side_camera", "front_lighting", "side_lighting", "skin_tone")
DEPTH_COLUMNS = ("front_depth", "side_depth")


def shard_schema(size: int = DEFAULT_SIZE, labels: bool = True, depth: bool = False,
                 realism: bool = False) -> pa.Schema:
    """The Arrow schema of a format-3 shard of `size` x `size` faces, with Hugging Face feature metadata.

    One row a face: the front view's columns (`front_*`, and the posmap, mask and landmarks of its frame), and
    each `side_*` column a list with one item per side view (1 for two-view faces), so a row holds any number of
    views. labels: the per-view segmentation, landmarks + visibility, camera and lighting columns, and the skin
    tone; depth: the per-view depth maps (float16, NaN off the face); realism: what `generate --realism` drew
    for each face (JSON text; the column is there only when it was asked for, so other shards keep their bytes).
    The face model's coefficients (identity, expression) are always there, null where the source has none."""
    image, landmarks = IMAGE_TYPE, array_type((68, 3), pa.float32())
    fields = _META_FIELDS + [("side", side_list(pa.string()))]
    fields += [(f"front_{angle}", pa.float32()) for angle in _ANGLES]
    fields += [(f"side_{angle}", side_list(pa.float32())) for angle in _ANGLES]
    fields += [("front_png", image), ("side_png", side_list(image)),
               ("posmap", array_type((size, size, 3), pa.float16())), ("mask_png", image), ("landmarks", landmarks)]
    if labels:
        visible = array_type((68,), pa.bool_())
        fields += [("front_segmentation", image), ("side_segmentation", side_list(image)),
                   ("side_landmarks", side_list(landmarks)), ("front_visible", visible),
                   ("side_visible", side_list(visible)), ("front_camera", CAMERA_TYPE),
                   ("side_camera", side_list(CAMERA_TYPE)), ("front_lighting", LIGHTING_TYPE),
                   ("side_lighting", side_list(LIGHTING_TYPE)),
                   ("skin_tone", array_type((3,), pa.float32()))]
    fields += [("identity", COEFFICIENTS_TYPE), ("expression", COEFFICIENTS_TYPE)]
    if depth:
        depth_map = array_type((size, size), pa.float16())
        fields += [("front_depth", depth_map), ("side_depth", side_list(depth_map))]
    if realism:
        fields += [("realism", pa.string())]
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
        while pa.types.is_fixed_size_list(arrow_type) or pa.types.is_list(arrow_type):
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


def _shape_of(faces: list[Face]) -> tuple[int, bool, bool]:
    """(size, labels, depth) that every face must share: a shard has one schema."""
    if not faces:
        return DEFAULT_SIZE, True, False

    def has(face: Face) -> tuple[int, bool, bool]:
        labels = [view.labels for view in face.views]
        labelled = all(label is not None for label in labels)
        return face.size, labelled, labelled and all(label.depth is not None for label in labels)

    first = faces[0]
    shape = has(first)
    for face in faces:
        size = face.size
        images = [view.image.shape for view in face.views]
        if face.posmap.shape != (size, size, 3) or face.mask.shape != (size, size) \
                or any(shape[:2] != (size, size) for shape in images):
            raise ValueError(f"face {face.meta.face_id}: images {images}, posmap {face.posmap.shape} and mask "
                             f"{face.mask.shape} must all be {size} x {size}")
        if any(view.labels is not None for view in face.views) and not has(face)[1]:
            raise ValueError(f"face {face.meta.face_id}: some views have labels and some not")
        if has(face) != shape:
            raise ValueError(f"face {face.meta.face_id} has (size, labels, depth) = {has(face)}, the shard's first "
                             f"face {first.meta.face_id} has {shape}: a shard has one schema")
    return shape


def _side_column(faces: list[Face], values: pa.Array, list_type: pa.DataType) -> pa.Array:
    """A side column from the flat `values` of every face's side views, in order."""
    offsets = np.cumsum([0] + [len(face.sides) for face in faces], dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=list_type)


def _coefficients(faces: list[Face], name: str) -> pa.Array:
    rows = [None if face.coefficients is None else np.asarray(getattr(face.coefficients, name), np.float32).tolist()
            for face in faces]
    return pa.array(rows, COEFFICIENTS_TYPE)


def faces_to_table(faces: list[Face], extra_meta: dict[str, str] | None = None) -> pa.Table:
    """The shard table of `faces` (`shard_schema` of their size and columns; `extra_meta` added to its key/value
    metadata). Faces may have different numbers of views."""
    size, labels, depth = _shape_of(faces)
    realism = any(face.realism is not None for face in faces)
    schema = shard_schema(size, labels, depth, realism)
    sides = [view for face in faces for view in face.sides]

    def side(name: str, values: pa.Array) -> pa.Array:
        return _side_column(faces, values, schema.field(name).type)

    metas = [face.meta.as_dict() for face in faces]
    columns: dict[str, pa.Array] = {name: pa.array([m[name] for m in metas], arrow_type)
                                    for name, arrow_type in _META_FIELDS}
    columns["side"] = side("side", pa.array([view.kind for view in sides], pa.string()))
    for angle in _ANGLES:
        columns[f"front_{angle}"] = pa.array([getattr(face.views[0], angle) for face in faces], pa.float32())
        columns[f"side_{angle}"] = side(f"side_{angle}", pa.array([getattr(v, angle) for v in sides], pa.float32()))
    columns["front_png"] = _images("front_png", [face.front for face in faces])
    columns["side_png"] = side("side_png", _images("side_png", [view.image for view in sides]))
    columns["posmap"] = _arrays([face.posmap for face in faces], schema.field("posmap").type, "<f2")
    columns["mask_png"] = _images("mask_png", [np.asarray(face.mask, bool) for face in faces])
    columns["landmarks"] = _arrays([face.landmarks for face in faces], schema.field("landmarks").type, "<f4")
    if labels:
        fronts = [face.front_view for face in faces]
        side_labels = [view.labels for view in sides]
        landmarks, visible = schema.field("landmarks").type, schema.field("front_visible").type
        columns["front_segmentation"] = _images("front_segmentation", [v.segmentation for v in fronts])
        columns["side_segmentation"] = side("side_segmentation", _images("side_segmentation",
                                                                         [v.segmentation for v in side_labels]))
        columns["side_landmarks"] = side("side_landmarks", _arrays([v.landmarks for v in side_labels], landmarks,
                                                                   "<f4"))
        columns["front_visible"] = _arrays([v.visible for v in fronts], visible, "bool")
        columns["side_visible"] = side("side_visible", _arrays([v.visible for v in side_labels], visible, "bool"))
        columns["front_camera"] = pa.array([_camera_row(v.camera) for v in fronts], CAMERA_TYPE)
        columns["side_camera"] = side("side_camera", pa.array([_camera_row(v.camera) for v in side_labels],
                                                              CAMERA_TYPE))
        columns["front_lighting"] = pa.array([_lighting_row(v.lighting) for v in fronts], LIGHTING_TYPE)
        columns["side_lighting"] = side("side_lighting", pa.array([_lighting_row(v.lighting) for v in side_labels],
                                                                  LIGHTING_TYPE))
        columns["skin_tone"] = pa.array([None if f.skin_tone is None else np.asarray(f.skin_tone, np.float32).tolist()
                                         for f in faces], schema.field("skin_tone").type)
        if depth:
            depth_map = schema.field("front_depth").type
            columns["front_depth"] = _arrays([v.depth for v in fronts], depth_map, "<f2")
            columns["side_depth"] = side("side_depth", _arrays([v.depth for v in side_labels], depth_map, "<f2"))
    columns["identity"] = _coefficients(faces, "identity")
    columns["expression"] = _coefficients(faces, "expression")
    if realism:
        columns["realism"] = pa.array([None if f.realism is None else json.dumps(f.realism, sort_keys=True,
                                                                                 separators=(",", ":"))
                                       for f in faces], pa.string())
    if extra_meta:
        own = {k.decode(): v.decode() for k, v in schema.metadata.items()}
        clash = set(extra_meta) & set(own)
        if clash:
            raise ValueError(f"extra_meta may not override the format's own keys {sorted(clash)}")
        # sorted, as strings: the metadata is part of the file's bytes
        schema = schema.with_metadata({**own, **{str(k): str(extra_meta[k]) for k in sorted(extra_meta)}})
    return pa.table([columns[name] for name in schema.names], schema=schema)


def write_shard(url: str, faces: list[Face], extra_meta: dict[str, str] | None = None) -> ShardInfo:
    """Write faces as one Parquet shard at `url` (atomically); returns its name, rows, sha256 and size.

    The bytes depend only on the faces and `extra_meta`: the PNGs' options (`PNG_OPTIONS`) and the writer's are
    fixed, and nothing time- or machine-dependent goes in (pyarrow's created_by names its version only).
    """
    table = faces_to_table(faces, extra_meta)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=max(len(faces), 1), **writer_options(table.schema))
    data = buf.getvalue()
    write_atomic(url, data)
    return ShardInfo(name=posixpath.basename(str(url)), rows=len(faces), sha256=hashlib.sha256(data).hexdigest(),
                     nbytes=len(data))


def read_shard(url: str, expected: ShardInfo | None = None, columns: list[str] | None = None) -> pa.Table:
    """The shard's table (only those of `columns` it has when given, e.g. `TRAINING_COLUMNS`); with `expected`,
    its sha256 and row count are checked first, and its format always, before any column is read.

    A missing, truncated or mismatching file, or one of a format this version does not read, raises
    DataIntegrityError naming the file.
    """
    fs, path = url_to_fs(url)
    if not fs.exists(path):
        raise DataIntegrityError(f"{url}: shard is missing")
    with fs.open(path, "rb") as fh:
        data = fh.read()
    if expected is not None and hashlib.sha256(data).hexdigest() != expected.sha256:
        raise DataIntegrityError(f"{url}: sha256 does not match the manifest (truncated or overwritten?)")
    try:
        schema = pq.read_schema(io.BytesIO(data))
    except Exception as exc:
        raise DataIntegrityError(f"{url}: not a readable Parquet file ({exc})") from None
    found = (schema.metadata or {}).get(b"frontside.format")
    if found is None:
        raise DataIntegrityError(f"{url}: not a frontside shard (schema metadata frontside.format missing)")
    if found.decode() not in READABLE_FORMATS:
        raise DataIntegrityError(f"{url}: frontside.format {found.decode()} is not one this version reads "
                                 f"({', '.join(READABLE_FORMATS)}): update frontside")
    try:
        # single-threaded: with its thread pool, pyarrow 26 aborts ~1 process in 4 at exit after reading these
        # nested columns ("terminate called without an active exception"); a shard decodes fast on one thread
        table = pq.read_table(io.BytesIO(data), use_threads=False,
                              columns=None if columns is None else [c for c in columns if c in schema.names])
    except Exception as exc:
        raise DataIntegrityError(f"{url}: not a readable Parquet file ({exc})") from None
    if expected is not None and table.num_rows != expected.rows:
        raise DataIntegrityError(f"{url}: {table.num_rows} rows, manifest says {expected.rows}")
    return table


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def shard_format(table: pa.Table) -> str:
    """The shard format of a table `read_shard` gave ("1", "2" or "3")."""
    return (table.schema.metadata or {}).get(b"frontside.format", b"").decode()


def shard_size(table: pa.Table) -> int:
    """The side of a shard's images and position maps (from its schema metadata; 256 for format 1)."""
    meta = table.schema.metadata or {}
    return int(meta[b"posmap_shape"].split(b",")[0]) if b"posmap_shape" in meta else DEFAULT_SIZE


def views_per_row(table: pa.Table) -> list[int]:
    """How many views each row of a shard table has (2 for formats 1 and 2)."""
    side = table.column("side")
    if not pa.types.is_list(side.type):
        return [2] * table.num_rows
    return [1 + n for n in pc.list_value_length(side).to_pylist()]


def _cell(table: pa.Table, name: str, i: int) -> pa.Array:
    """Row i of a column as a one-element array of its chunk (no conversion of the rest)."""
    for chunk in table.column(name).chunks:
        if i < len(chunk):
            return chunk.slice(i, 1)
        i -= len(chunk)
    raise IndexError(f"row {i} is past the table's end")


def _side_values(table: pa.Table, name: str, i: int) -> pa.Array:
    """The side views' values of row i: a format-3 cell's list items, or a format-2 cell as the one item."""
    cell = _cell(table, name, i)
    return cell.flatten() if pa.types.is_list(cell.type) else cell


def _view_values(table: pa.Table, front: str, side: str, i: int, count: int) -> pa.Array:
    """Row i's values of its first `count` views: the front's column, then the side views' column."""
    return pa.concat_arrays([_cell(table, front, i), _side_values(table, side, i).slice(0, count - 1)])


def _stacked(values: pa.Array, shape: tuple[int, ...], dtype) -> np.ndarray:
    """(len(values), *shape) array of a column's fixed-size-list values."""
    count = len(values)
    while pa.types.is_fixed_size_list(values.type):
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False).reshape(count, *shape).astype(dtype)


def _pngs(values: pa.Array) -> list[np.ndarray]:
    return [decode_png(data) for data in values.field("bytes").to_pylist()]


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


def _labels(table: pa.Table, i: int, count: int, size: int) -> list[ViewLabels]:
    """The labels of row i's first `count` views."""
    def views(front: str, side: str) -> pa.Array:
        return _view_values(table, front, side, i, count)

    depth = (_stacked(views("front_depth", "side_depth"), (size, size), np.float32)
             if "front_depth" in table.column_names else [None] * count)
    landmarks = _stacked(views("landmarks", "side_landmarks"), (68, 3), np.float32)
    visible = _stacked(views("front_visible", "side_visible"), (68,), bool)
    cameras = views("front_camera", "side_camera").to_pylist()
    lights = (views("front_lighting", "side_lighting").to_pylist() if "front_lighting" in table.column_names
              else [None] * count)
    return [ViewLabels(segmentation=segmentation, depth=depth[k], landmarks=landmarks[k], visible=visible[k],
                       camera=_matrices(cameras[k], size), lighting=_lights(lights[k]))
            for k, segmentation in enumerate(_pngs(views("front_segmentation", "side_segmentation")))]


def decode_row(table: pa.Table, i: int, n_views: int | None = None) -> Face:
    """Row `i` of a shard table (format 1, 2 or 3) as a `Face`: its first `n_views` views (None: all; a row of
    format 1 or 2 has two), the posmap back to float32, view labels and coefficients where the table has them
    (`read_shard(columns=...)` may leave them out)."""
    if shard_format(table) == "1":
        return _decode_row_v1(table, i)
    size = shard_size(table)
    meta = FaceMeta(**{k: _cell(table, k, i)[0].as_py() for k in FaceMeta.__dataclass_fields__})
    kinds = ["front", *_side_values(table, "side", i).to_pylist()]
    count = len(kinds) if n_views is None else max(2, min(n_views, len(kinds)))
    angles = {angle: _view_values(table, f"front_{angle}", f"side_{angle}", i, count).to_pylist()
              for angle in _ANGLES}
    images = _pngs(_view_values(table, "front_png", "side_png", i, count))
    labels = (_labels(table, i, count, size) if "front_segmentation" in table.column_names
              else [None] * count)
    landmarks = labels[0].landmarks if labels[0] is not None else _stacked(_cell(table, "landmarks", i), (68, 3),
                                                                          np.float32)[0]
    coefficients = None
    if "identity" in table.column_names and "expression" in table.column_names:
        identity, expression = (_cell(table, name, i)[0].as_py() for name in ("identity", "expression"))
        if identity is not None and expression is not None:
            coefficients = Coefficients(np.array(identity, np.float32), np.array(expression, np.float32))
    tone = _cell(table, "skin_tone", i)[0].as_py() if "skin_tone" in table.column_names else None
    realism = _cell(table, "realism", i)[0].as_py() if "realism" in table.column_names else None
    views = tuple(View(image=images[k], kind=kinds[k], yaw=angles["yaw"][k], pitch=angles["pitch"][k],
                       roll=angles["roll"][k], labels=labels[k]) for k in range(count))
    return Face(views=views, posmap=_stacked(_cell(table, "posmap", i), (size, size, 3), np.float32)[0],
                mask=decode_png(_cell(table, "mask_png", i)[0].as_py()["bytes"]).astype(bool), landmarks=landmarks,
                meta=meta, skin_tone=None if tone is None else np.array(tone, np.float32), coefficients=coefficients,
                realism=None if realism is None else json.loads(realism))


def _decode_row_v1(table: pa.Table, i: int) -> Face:
    row = {name: _cell(table, name, i)[0].as_py() for name in table.column_names}
    meta = FaceMeta(**{k: row[k] for k in FaceMeta.__dataclass_fields__})
    views = (View(decode_png(row["front_png"]), "front", row["front_yaw"], row["front_pitch"], row["front_roll"]),
             View(decode_png(row["side_png"]), row["side"], row["side_yaw"], row["side_pitch"], row["side_roll"]))
    return Face(
        views=views,
        posmap=np.frombuffer(row["posmap"], dtype="<f2").reshape(POSMAP_SHAPE).astype(np.float32),
        mask=decode_png(row["mask_png"]).astype(bool),
        landmarks=np.frombuffer(row["landmarks"], dtype="<f4").reshape(68, 3).copy(),
        meta=meta,
    )
