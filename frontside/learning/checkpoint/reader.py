"""A torch.save archive read without torch: the zip's data.pkl through an unpickler that knows only what a
checkpoint holds (dicts, lists, numbers, text, and tensors, which it records as `StoredTensor`: dtype, shape and
where the bytes are) and refuses anything else unread, so no code from the file runs and torch is not imported.
`stored_arrays` reads the tensors' bytes as numpy arrays."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frontside import checks
from frontside.errors import DataIntegrityError

# torch's storage classes, as torch.save names them ("torch.FloatStorage"), and their elements' numpy dtype
# (bfloat16, which numpy lacks, is read as its 16 bits)
_STORAGE_DTYPES = {
    "DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?", "ComplexFloatStorage": "c8", "ComplexDoubleStorage": "c16", "UntypedStorage": "u1",
}
_DTYPE_NAMES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
                "complex64", "complex128")


@dataclass(frozen=True)
class StoredTensor:
    """A tensor of a checkpoint, not read: its elements are `shape` items of `dtype` ("<f4", "bf16", ...) at
    `offset` and `stride` (in elements) in the archive member `member` of the file `archive`."""

    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    archive: str
    member: str

    @property
    def floating(self) -> bool:
        return self.dtype.lstrip("<>") in ("f8", "f4", "f2", "bf16", "c8", "c16")


@dataclass(frozen=True)
class _Storage:
    dtype: str
    member: str
    numel: int


@dataclass(frozen=True)
class _StorageType:
    dtype: str


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    """Stands in for torch._utils._rebuild_parameter(_with_state): a parameter is its tensor."""
    return data


def _latin1(text: str, encoding: str) -> bytes:
    """Stands in for _codecs.encode, which pickle protocol 2 calls to rebuild bytes (and only so)."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode of a {type(text).__name__} to {encoding!r}")
    return text.encode("latin1")


_TENSOR = "tensor"  # find_class answers the unpickler's own `_rebuild_tensor`, which knows the file
# Every global a checkpoint may name: what torch.save writes for dicts of tensors, numbers and text. The rest of
# torch's weights_only list (tensor subclasses, quantised and sparse tensors, bytearray) never occurs in ours.
_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _TENSOR,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): tuple,
    ("torch", "device"): str,
    ("_codecs", "encode"): _latin1,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
    **{("torch", name): f"torch.{name}" for name in _DTYPE_NAMES},
}


class _Unpickler(pickle.Unpickler):
    """data.pkl's objects, tensors as `StoredTensor` of the file `archive` whose storages are `prefix`data/<key>
    and whose bytes are in `endian` order ("<" or ">"); any other class or function is refused, never imported."""

    def __init__(self, data: bytes, archive: str, prefix: str, endian: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.endian = archive, prefix, endian
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        found = _GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it holds a {module}.{name}, and a checkpoint holds only tensors, "
                                         "numbers and text")
        return self._rebuild_tensor if found is _TENSOR else found

    def persistent_load(self, pid):
        # torch.save's id of a storage: ("storage", storage class, key, location, number of elements)
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"an unknown persistent id {str(pid)[:60]}")
        member = f"{self.prefix}data/{pid[2]}"
        return self.storages.setdefault(member, _Storage(pid[1].dtype, member, pid[4]))

    def _rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
        """Stands in for torch._utils._rebuild_tensor_v2."""
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError("a tensor without its storage")
        shape, stride, offset = tuple(int(n) for n in size), tuple(int(n) for n in stride), int(offset)
        if len(shape) != len(stride) or min(shape, default=0) < 0 or min(stride, default=0) < 0 or offset < 0:
            raise pickle.UnpicklingError(f"a tensor of shape {shape}, stride {stride}, offset {offset}")
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride)) if all(shape) else -1
        if last >= storage.numel:
            raise pickle.UnpicklingError(f"a tensor of shape {shape} beyond its storage of {storage.numel} "
                                         "elements")
        dtype = storage.dtype if storage.dtype in ("bf16", "?", "i1", "u1") else self.endian + storage.dtype
        return StoredTensor(dtype, shape, stride, offset, self.archive, storage.member)


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bf16" else np.dtype(dtype).itemsize


def _archive_problem(path: Path) -> str | None:
    """Why `path` cannot be a torch.save file (a zip archive holding one data.pkl), or None."""
    if not zipfile.is_zipfile(path):
        return "not the zip archive torch.save writes (truncated, or another kind of file)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        return f"a damaged archive ({exc})"
    if sum(name == "data.pkl" or name.endswith("/data.pkl") for name in names) != 1:
        return "a zip archive, but not one torch.save wrote (no single data.pkl)"
    return None


def read_checkpoint(path: str | os.PathLike, name: str = "checkpoint") -> dict:
    """What a torch.save file holds, read without torch and without running anything from the file: its
    tensors as `StoredTensor`, each one's bytes present in the archive. DataIntegrityError naming the file
    otherwise. `name` is the parameter that gave the path."""
    path = checks.input_file(name, path)
    problem = _archive_problem(path)
    if problem:
        raise DataIntegrityError(f"{path}: not a frontside checkpoint ({problem})")
    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next(n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl"))
            prefix = pkl.removesuffix("data.pkl")
            infos = {info.filename: info for info in archive.infolist()}
            # torch.save stores every member uncompressed: a compressed one could inflate to any size
            packed = [member for member, info in infos.items() if info.compress_type != zipfile.ZIP_STORED]
            if packed:
                raise DataIntegrityError(f"{path}: {packed[0]}: compressed, and torch.save never compresses")
            order = archive.read(f"{prefix}byteorder").decode() if f"{prefix}byteorder" in infos else "little"
            if order not in ("little", "big"):
                raise DataIntegrityError(f"{path}: byteorder: {order[:20]!r} is neither little nor big")
            unpickler = _Unpickler(archive.read(pkl), str(path), prefix, "<" if order == "little" else ">")
            state = unpickler.load()
    except DataIntegrityError:
        raise
    except Exception as exc:  # a damaged member, a refused global, a truncated pickle: all say the same
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataIntegrityError(f"{path}: not a readable frontside checkpoint ({detail})") from None
    for storage in unpickler.storages.values():
        want = storage.numel * _itemsize(storage.dtype)
        have = infos[storage.member].file_size if storage.member in infos else None
        if have != want:
            raise DataIntegrityError(f"{path}: {storage.member}: " + ("missing from the archive" if have is None
                                     else f"{have} bytes") + f", its tensors need {want}")
    return state


def stored_arrays(values: dict) -> dict:
    """`values` with each `StoredTensor` read as a numpy array (bfloat16 as float32); every archive opened once."""
    out, opened, storages = dict(values), {}, {}
    try:
        for key, t in values.items():
            if not isinstance(t, StoredTensor):
                continue
            if t.archive not in opened:
                opened[t.archive] = zipfile.ZipFile(t.archive)
            if (t.archive, t.member) not in storages:
                raw = opened[t.archive].read(t.member)
                storages[t.archive, t.member] = np.frombuffer(raw, np.dtype(t.dtype.replace("bf16", "<u2")))
            flat = storages[t.archive, t.member]
            if t.dtype == "bf16":  # its 16 bits are the high half of a float32
                flat = (flat.astype(np.uint32) << 16).view(np.float32)
            out[key] = np.lib.stride_tricks.as_strided(flat[t.offset:], t.shape,
                                                       [s * flat.itemsize for s in t.stride], writeable=False)
    finally:
        for archive in opened.values():
            archive.close()
    return out
