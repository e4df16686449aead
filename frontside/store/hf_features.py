"""Hugging Face `datasets` feature metadata for a shard's Arrow schema, written without importing `datasets`.

`datasets.load_dataset("parquet", data_files=...)` reads the schema's "huggingface" key and takes a column's
declared feature where its Arrow type is the one that feature stores, so image columns (PNG bytes in
struct<bytes, path>) decode as images. Arrays are fixed-size lists, which `datasets` reads as fixed-length
`Sequence`s (numpy arrays under `.with_format("numpy")`). `Sequence` rather than the newer `List` keeps the
metadata readable by `datasets` 2.x-5.x. A list of structs (the side views' cameras and lights) is written
`[feature]`, the one spelling of a list of dicts every version reads as such (`Sequence` of a dict means a dict
of lists there); a list of images is `Sequence(Image())`.
"""

from __future__ import annotations

import json

import pyarrow as pa

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # datasets.Image's storage

_VALUE_NAMES = {pa.string(): "string", pa.int64(): "int64", pa.float16(): "float16", pa.float32(): "float32",
                pa.float64(): "float64", pa.bool_(): "bool", pa.binary(): "binary", pa.uint8(): "uint8"}


def feature_of(arrow_type: pa.DataType, image: bool = False) -> dict | list:
    """The `datasets` feature (as its JSON) that stores values of `arrow_type`; `image`: PNGs in `IMAGE_TYPE`, or
    a list of them."""
    if image and pa.types.is_list(arrow_type):
        return {"_type": "Sequence", "feature": {"_type": "Image"}, "length": -1}
    if image:
        return {"_type": "Image"}
    if pa.types.is_list(arrow_type) and pa.types.is_struct(arrow_type.value_type):
        return [feature_of(arrow_type.value_type)]
    if pa.types.is_struct(arrow_type):
        return {arrow_type.field(i).name: feature_of(arrow_type.field(i).type) for i in range(arrow_type.num_fields)}
    if pa.types.is_fixed_size_list(arrow_type):
        return {"_type": "Sequence", "feature": feature_of(arrow_type.value_type), "length": arrow_type.list_size}
    if pa.types.is_list(arrow_type):
        return {"_type": "Sequence", "feature": feature_of(arrow_type.value_type), "length": -1}
    if arrow_type not in _VALUE_NAMES:
        raise TypeError(f"no datasets feature for Arrow type {arrow_type}")
    return {"_type": "Value", "dtype": _VALUE_NAMES[arrow_type]}


def huggingface_metadata(schema: pa.Schema, image_columns: set[str]) -> str:
    """The JSON for the schema metadata key "huggingface" (sorted keys: part of the file's bytes)."""
    features = {f.name: feature_of(f.type, f.name in image_columns) for f in schema}
    return json.dumps({"info": {"features": features}}, sort_keys=True)
