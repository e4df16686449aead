"""dlib's detectors (optional extras): the HOG detector compiled into the `dlib-bin` wheel (Boost licence; extra
`[dlib]`), and the MMOD CNN detector whose weights `face-recognition-models` ships (CC0; extra `[dlib-cnn]`; the
same package ships dlib's 68-point predictor, trained on iBUG 300-W, non-commercial: frontside never loads it).
The CNN is slow on a CPU (seconds per 640 x 480 photo)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from frontside.errors import FrontsideError
from frontside.reconstruct.detectors import FRONTAL, Detection

CNN_WEIGHTS = "mmod_human_face_detector.dat"


def _import_dlib(extra: str):
    try:
        import dlib
    except ImportError:
        raise FrontsideError(f"this detector needs dlib: pip install 'frontside[{extra}]'") from None
    return dlib


@functools.cache
def _dlib_hog():
    return _import_dlib("dlib").get_frontal_face_detector()


def detect_dlib_hog(image: np.ndarray, view: str) -> list[Detection]:
    """dlib's HOG detector (its filters cover frontal and turned faces up to about 60 degrees of yaw)."""
    rects, scores, _ = _dlib_hog().run(np.ascontiguousarray(image[..., :3]), 1, -0.2)
    return [Detection(float(r.left()), float(r.top()), float(r.width()), float(r.height()), float(s), FRONTAL,
                      "dlib-hog") for r, s in zip(rects, scores)]


def face_recognition_models_file(name: str) -> Path:
    """A file of the face-recognition-models package, found without importing it: its __init__ imports
    pkg_resources, which setuptools 81 and later no longer provide."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FrontsideError("the dlib-cnn detector needs its model: pip install 'frontside[dlib-cnn]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise FrontsideError(f"{path}: missing from face-recognition-models (reinstall it: pip install "
                             "'frontside[dlib-cnn]')")
    return path


@functools.cache
def _dlib_cnn():
    dlib = _import_dlib("dlib-cnn")
    return dlib.cnn_face_detection_model_v1(str(face_recognition_models_file(CNN_WEIGHTS)))


def detect_dlib_cnn(image: np.ndarray, view: str) -> list[Detection]:
    found = _dlib_cnn()(np.ascontiguousarray(image[..., :3]), 0)
    return [Detection(float(d.rect.left()), float(d.rect.top()), float(d.rect.width()), float(d.rect.height()),
                      float(d.confidence), FRONTAL, "dlib-cnn") for d in found]
