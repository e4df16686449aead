"""What a dataset folder holds and what its files are called: the one home of the shard format's version and
of every name the store writes (`manifest.json`, `uv_regions.png`, `shard-00042.parquet`)."""

from __future__ import annotations

import re

FORMAT_VERSION = "3"  # one row a face with N views: the front's columns, each side column a list (shards.py)
# format 1: 256 x 256 only, PNGs and the posmap as plain binary, no view labels; format 2: two views a row, the
# side view's columns single values
READABLE_FORMATS = ("1", "2", "3")
DEFAULT_SIZE = 256
MANIFEST_NAME = "manifest.json"
UV_REGIONS_NAME = "uv_regions.png"
_SHARD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.parquet$")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def is_plain_shard_name(name: object) -> bool:
    """A file name inside the dataset folder: no folder part, no `..`, not hidden, ends in .parquet."""
    return isinstance(name, str) and _SHARD_NAME.match(name) is not None and ".." not in name
