"""`manifest.json` at a dataset root: how the dataset was made, what it was made from, what each shard must be.

A manifest records the parameters as given (paths made absolute), the `identity` a resumed run must match
(the parameters with every path replaced by the content it names: the face model's sha256, a digest of the
background set, of the 300W-LP listing), the `inputs` in full (model spec and sha256, ...), the code version
at creation and at each later run, and per shard its name, rows, sha256 and size. Loading checks every field:
a truncated or edited manifest is an error naming the file, never "no dataset here", and a shard name must
be a plain file name, so no entry can reach outside the dataset.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import frontside
from frontside.errors import DataIntegrityError
from frontside.io import file_sha256, join, read_bytes, url_to_fs, write_atomic
from frontside.store.layout import FORMAT_VERSION, MANIFEST_NAME, is_plain_shard_name

MANIFEST_VERSION = 2  # 2: identity, inputs and runs recorded; 1 (no "manifest_version"): parameters only
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ShardInfo:
    """What the manifest records of one shard."""

    name: str
    rows: int
    sha256: str
    nbytes: int


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
    """`manifest.json` at a dataset root (see the module's docstring)."""

    parameters: dict
    shards: dict[str, ShardInfo] = field(default_factory=dict)
    code_version: str = ""  # at creation
    format: str = FORMAT_VERSION
    extra: dict = field(default_factory=dict)
    identity: dict | None = None  # None: written before identities were recorded (manifest version 1)
    inputs: dict = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)  # each run's code version and start time

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards.values())

    @property
    def size(self) -> int:
        """The side of the dataset's images and position maps (256 where the parameters do not say)."""
        size = self.parameters.get("size", 256)
        return size if isinstance(size, int) and not isinstance(size, bool) else 256

    def record_run(self, version: str) -> None:
        """Note a run of `version` now (the first run also sets the creation version)."""
        self.code_version = self.code_version or version
        self.runs.append({"code_version": version,
                          "started": datetime.now(UTC).isoformat(timespec="seconds")})

    def to_json(self) -> str:
        body = {"manifest_version": MANIFEST_VERSION, "format": self.format, "code_version": self.code_version,
                "runs": self.runs, "parameters": self.parameters, "identity": self.identity,
                "inputs": self.inputs, "extra": self.extra, "rows": self.rows,
                "shards": [asdict(self.shards[k]) for k in sorted(self.shards)]}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    def save(self, root: str) -> str:
        url = join(root, MANIFEST_NAME)
        write_atomic(url, self.to_json())
        return url

    @classmethod
    def load(cls, root: str) -> Manifest:
        """The manifest at `root`; DataIntegrityError naming the file when it is missing, unreadable, not
        JSON, or any field is wrong."""
        url = join(root, MANIFEST_NAME)
        fs, path = url_to_fs(url)
        if not fs.exists(path):
            raise DataIntegrityError(f"{url}: no manifest (is this a frontside dataset folder?)")
        return cls.parse(read_bytes(url), url)

    @classmethod
    def load_or_none(cls, root: str) -> Manifest | None:
        """The manifest, or None only when `root` has no manifest.json (an unreadable one is an error)."""
        fs, path = url_to_fs(join(root, MANIFEST_NAME))
        return cls.load(root) if fs.exists(path) else None

    @classmethod
    def parse(cls, data: bytes, url: str) -> Manifest:
        def bad(where: str, problem: str):
            raise DataIntegrityError(f"{url}: {where}: {problem}")

        try:
            body = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            bad("file", "not UTF-8 text")
        except json.JSONDecodeError as exc:
            bad("file", f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; {len(data)} bytes: "
                        "truncated or edited?)")
        if not isinstance(body, dict):
            bad("file", f"expected a JSON object, found {type(body).__name__}")
        for key, kind in (("parameters", dict), ("shards", list)):
            if not isinstance(body.get(key), kind):
                bad(key, "missing" if key not in body else f"expected a JSON {kind.__name__}")
        for key, kind in (("extra", dict), ("inputs", dict), ("runs", list), ("identity", (dict, type(None))),
                          ("code_version", str), ("format", str)):
            if key in body and not isinstance(body[key], kind):
                bad(key, f"has the wrong type ({type(body[key]).__name__})")
        shards: dict[str, ShardInfo] = {}
        for i, entry in enumerate(body["shards"]):
            where = f"shards[{i}]"
            if not isinstance(entry, dict) or set(entry) != {"name", "rows", "sha256", "nbytes"}:
                bad(where, "expected {name, rows, sha256, nbytes}")
            if not is_plain_shard_name(entry["name"]):
                bad(f"{where}.name", f"{entry['name']!r} is not a plain shard file name (a .parquet file in the "
                                     "dataset folder itself)")
            for key in ("rows", "nbytes"):
                if isinstance(entry[key], bool) or not isinstance(entry[key], int) or entry[key] < 0:
                    bad(f"{where}.{key}", f"expected a whole number >= 0, got {entry[key]!r}")
            if not isinstance(entry["sha256"], str) or not _SHA256.match(entry["sha256"]):
                bad(f"{where}.sha256", "expected 64 lowercase hex digits")
            if entry["name"] in shards:
                bad(f"{where}.name", f"{entry['name']} is listed twice")
            shards[entry["name"]] = ShardInfo(**entry)
        return cls(parameters=body["parameters"], shards=shards, code_version=body.get("code_version", ""),
                   format=body.get("format", FORMAT_VERSION), extra=body.get("extra", {}),
                   identity=body.get("identity"), inputs=body.get("inputs", {}), runs=body.get("runs", []))

    def model_record(self) -> tuple[str | None, str | None]:
        """(model spec, sha256 or None) of the face model the dataset was made with.

        Version 2 manifests record it under inputs.model; older ones only as a parameter (`model_spec` for
        300W-LP, whose `source` is "300wlp", and `source` for generated data).
        """
        model = self.inputs.get("model") or {}
        if model.get("spec"):
            return model["spec"], model.get("sha256")
        spec = self.parameters.get("model_spec") or self.parameters.get("source")
        return (spec if isinstance(spec, str) and (spec == "builtin" or spec.startswith("bfm:")) else None), None


def shard_is_valid(root: str, info: ShardInfo | None) -> bool:
    """True when the shard the manifest names exists with the recorded sha256."""
    return info is not None and is_plain_shard_name(info.name) and file_sha256(join(root, info.name)) == info.sha256


def verify(root: str) -> list[str]:
    """Names of the manifest's shards that are missing or corrupt."""
    manifest = Manifest.load(root)
    return [name for name, info in sorted(manifest.shards.items()) if not shard_is_valid(root, info)]


def list_shards(root: str) -> list[tuple[str, ShardInfo]]:
    """(url, info) of every shard the manifest lists, in order (names checked at load: all inside `root`)."""
    manifest = Manifest.load(root)
    return [(join(root, name), manifest.shards[name]) for name in sorted(manifest.shards)]
