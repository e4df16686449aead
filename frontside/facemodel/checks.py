"""What every face model must satisfy before anything is rendered from it, and a digest of its content.

A model with NaN in a basis renders no face and an empty position map without any error, so every loader
checks its model here: finite arrays, shapes that fit each other, triangle and landmark indices in range,
68 distinct landmarks, UVs in [0, 1].
"""

from __future__ import annotations

import hashlib

import numpy as np

from frontside.errors import InputFormatError
from frontside.facemodel.model import MorphableModel

FLOAT32_MAX = float(np.finfo(np.float32).max)

_ARRAYS = ("mean", "id_basis", "id_std", "exp_basis", "exp_std", "triangles", "uv", "landmarks", "regions",
           "colour_mean", "colour_basis", "colour_std", "exp_mean")


def float32_values(value, source: object, field: str, divisor: float = 1.0) -> np.ndarray:
    """`value` / `divisor` as float32, when every value is finite and the quotient within float32's range; else
    InputFormatError naming `source` and `field` (the file and its own key), where numpy would have turned a
    large value into inf with an overflow warning."""
    value = np.asarray(value, np.float64)
    finite = np.isfinite(value)
    if not finite.all():
        raise InputFormatError(source, field, f"{int(value.size - np.count_nonzero(finite))} of {value.size} "
                                              "values are NaN or infinite")
    quotient = value / divisor if divisor != 1.0 else value
    beyond = np.abs(quotient) > FLOAT32_MAX
    if beyond.any():
        raise InputFormatError(source, field, f"{int(np.count_nonzero(beyond))} of {value.size} values lie beyond "
                                              f"float32's range: largest {np.abs(value).max():.3g}, at most "
                                              f"{FLOAT32_MAX * divisor:.3g} fits")
    return quotient.astype(np.float32)


def check_model(model: MorphableModel, source: object) -> MorphableModel:
    """`model` unchanged when it is sound; else InputFormatError naming `source` (its file) and the array."""
    n = model.n_vertices

    def fail(field: str, problem: str):
        raise InputFormatError(source, field, problem)

    if model.mean.ndim != 2 or model.mean.shape[1] != 3 or n < 3:
        fail("mean", f"has shape {model.mean.shape}, expected (N, 3) with N >= 3")
    expected = {
        "id_basis": (3 * n, model.id_basis.shape[1] if model.id_basis.ndim == 2 else -1),
        "id_std": (model.n_identity,),
        "exp_basis": (3 * n, model.exp_basis.shape[1] if model.exp_basis.ndim == 2 else -1),
        "exp_std": (model.n_expression,),
        "uv": (n, 2),
        "regions": (n,),
        "landmarks": (68,),
        "colour_mean": (n, 3),
        "exp_mean": (n, 3),
    }
    for name, shape in expected.items():
        value = getattr(model, name)
        if value is not None and np.shape(value) != shape:
            fail(name, f"has shape {np.shape(value)}, expected {shape}")
    for name in _ARRAYS:
        value = getattr(model, name)
        if value is not None and np.issubdtype(np.asarray(value).dtype, np.floating) \
                and not np.all(np.isfinite(value)):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            fail(name, f"{bad} of {np.size(value)} values are NaN or infinite")
    tri = np.asarray(model.triangles)
    if tri.ndim != 2 or tri.shape[1] != 3 or len(tri) == 0:
        fail("triangles", f"has shape {tri.shape}, expected (T, 3) with T >= 1")
    if tri.min() < 0 or tri.max() >= n:
        fail("triangles", f"indices span {tri.min()}..{tri.max()}, expected 0..{n - 1}")
    lm = np.asarray(model.landmarks)
    if lm.min() < 0 or lm.max() >= n:
        fail("landmarks", f"indices span {lm.min()}..{lm.max()}, expected 0..{n - 1}")
    if len(np.unique(lm)) != 68:
        fail("landmarks", f"only {len(np.unique(lm))} of the 68 indices are distinct")
    if model.uv.min() < 0 or model.uv.max() > 1:
        fail("uv", f"values span {model.uv.min():g}..{model.uv.max():g}, expected [0, 1]")
    if np.any(np.asarray(model.id_std) < 0) or np.any(np.asarray(model.exp_std) < 0):
        fail("id_std/exp_std", "standard deviations must be >= 0")
    if model.colour_basis is not None and model.colour_std is not None and \
            np.shape(model.colour_basis) != (3 * n, len(model.colour_std)):
        fail("colour_basis", f"has shape {np.shape(model.colour_basis)}, expected ({3 * n}, "
                             f"{len(model.colour_std)})")
    return model


def model_digest(model: MorphableModel) -> str:
    """sha256 of everything in the model that shapes a dataset's bytes: its arrays (dtype, shape, values) and
    name. Two files with the same arrays give the same digest; any changed value gives another."""
    h = hashlib.sha256(model.name.encode() + b"\0")
    for name in _ARRAYS:
        value = getattr(model, name)
        if value is None:
            h.update(f"{name}:none\n".encode())
            continue
        array = np.ascontiguousarray(value)
        h.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
        h.update(memoryview(array).cast("B"))
    return h.hexdigest()
