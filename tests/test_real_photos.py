"""Detection on real photos that ship with what frontside installs (`tools.real_photos`: scikit-image's astronaut,
camera and LFW subset, matplotlib's grace_hopper, their crops and rotations, textures): the default detector finds
the face and nothing else, its parts (BlazeFace, O-Net, the checked locator) each do their share, and the first
crop from a BlazeFace box is near training's crop of the true landmarks. The unit tier runs the portraits and a
tenth of LFW; the slow test runs every set against issue 22's targets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from frontside.geometry.crop import landmark_crop
from frontside.reconstruct.crop import crop_box, crop_from_detection
from frontside.reconstruct.detect import detect_face, shrunk_for_detection
from frontside.reconstruct.detectors import onet
from frontside.reconstruct.detectors.auto import locator_face, real_faces
from frontside.reconstruct.detectors.blazeface import blazeface_boxes
from tools.real_photos import FACES, NON_FACES, SETS, lfw, on_the_face, portraits, score, textures


def _auto(image: np.ndarray, view: str):
    return detect_face(image, view, "auto")


def test_the_default_detector_finds_the_three_portraits():
    for photo in portraits():
        found = detect_face(photo.image, "front")
        assert on_the_face(found.box, photo), (photo.name, found)
        assert found.detector.startswith("blazeface") and found.landmarks is None  # a real detector's box


def test_the_default_detector_on_a_tenth_of_lfw():
    """Every tenth LFW face is boxed on the face; every tenth non-face, given as a front and as a side photo,
    gets at most one "face" (the whole set: 1 of 100 front, 2 of 100 side, the slow test below)."""
    faces = score(_auto, lfw(FACES[::10]))
    assert faces["on_face"] == faces["faces"] == 10, faces
    for view in ("front", "side"):
        non_faces = [photo.__class__(photo.name, photo.image, None, view) for photo in lfw(NON_FACES[::10])]
        assert score(_auto, non_faces)["false_positives"] <= 1


def test_blazeface_scores_faces_high_and_textures_low():
    """MediaPipe's decoding through OpenCV: a box on each portrait's face with a score over 0.75. On textures
    BlazeFace alone, at MediaPipe's 0.5, boxes a few (11 of 100), never at the 0.75 the default trusts unchecked,
    and O-Net turns those down."""
    for photo in portraits():
        boxes = blazeface_boxes(photo.image)
        best = max(boxes, key=lambda b: b[4])
        assert best[4] > 0.75 and on_the_face(best[:4], photo), (photo.name, boxes)
    boxed = [t for t in textures(20) if blazeface_boxes(t.image)]
    assert boxed and all(b[4] < 0.75 for t in boxed for b in blazeface_boxes(t.image))
    assert not any(real_faces(t.image) for t in boxed)


def test_onet_tells_a_face_from_the_rest_of_the_photo():
    photo = portraits()[0]
    lo, hi = photo.reference.min(0), photo.reference.max(0)
    size = float((hi - lo).sum()) / 2
    face = np.array([[lo[0] - 0.15 * size, lo[1] - 0.4 * size, hi[0] + 0.15 * size, hi[1] + 0.1 * size]])
    elsewhere = face + [0.0, 2.2 * size, 0.0, 2.2 * size]  # the spacesuit below her face
    assert onet.verdict(photo.image, face)[0] > 0.9
    assert onet.verdict(photo.image, elsewhere)[0] < 0.5
    assert onet.face_probability(photo.image, np.zeros((0, 4))).shape == (0,)


def test_the_locator_answers_only_where_onet_agrees():
    """On LFW's non-faces the locator alone finds a "face" in most (70 of 100); checked by O-Net, in none of
    these twelve, given as a front or as a side photo (where the check is looser)."""
    photos = lfw(NON_FACES[:12])
    assert sum(detect_face(p.image, "front", "locator") is not None for p in photos) >= 6
    for view in ("front", "side"):
        assert not any(locator_face(p.image, view) for p in photos), view


@pytest.mark.slow
def test_a_rendered_profile_falls_back_to_the_checked_locator(builtin_model):
    """A side photo turned past BlazeFace's reach is found by the locator, with its 68 landmarks."""
    from tools.photos import finds_face, photo_pairs

    found_by = []
    for pair in photo_pairs(1_000_003, range(4)):
        found = detect_face(pair.side.image, "side")
        if found is not None and finds_face(found.box, pair.side.landmarks):
            found_by.append(found.detector)
            assert (found.landmarks is not None) == (found.detector == "locator")
    assert "locator" in found_by, found_by


def test_a_large_photo_is_detected_on_a_shrunk_copy_and_answered_in_its_pixels():
    photo = portraits()[2]  # grace_hopper, 512 x 600
    big = cv2.resize(photo.image, (photo.image.shape[1] * 5, photo.image.shape[0] * 5), interpolation=cv2.INTER_CUBIC)
    small, factor = shrunk_for_detection(big)
    assert max(small.shape[:2]) == 1280 and factor == pytest.approx(3000 / 1280)
    found = detect_face(big, "front")
    assert found is not None and on_the_face(tuple(v / 5 for v in found.box), photo)
    assert found.width > 5 * 150  # in the large photo's pixels


def test_a_blazeface_box_gives_a_first_crop_near_training_crop():
    """BlazeFace's own box-to-landmarks rule: on the portraits and their crops the first crop's centre is a median
    under 5% (of the crop's side) and its side under 10% from training's crop of dlib's 68 landmarks; Haar's rule on
    the same box is further off (its crop sits lower: a cascade's box runs from the brows to above the chin)."""
    from dataclasses import replace

    errors = {"blazeface": [], "haar's rule": []}
    for photo in SETS["portraits"]() + SETS["portraits_aug"]():
        found = detect_face(photo.image, "front")
        x0, y0, s0 = crop_box(landmark_crop(photo.reference), 256)
        for name, detection in (("blazeface", found), ("haar's rule", replace(found, detector="haar"))):
            x1, y1, s1 = crop_box(crop_from_detection(detection, 256), 256)
            errors[name].append((np.hypot(x1 + s1 / 2 - x0 - s0 / 2, y1 + s1 / 2 - y0 - s0 / 2) / s0, s1 / s0 - 1))
    centre, size = np.abs(np.array(errors["blazeface"])).T
    assert np.median(centre) < 0.05 and np.median(size) < 0.10, errors["blazeface"]
    assert centre.max() < 0.25, errors["blazeface"]  # the cameraman, turned ~40 degrees: his box takes his cheek
    assert np.median(np.array(errors["haar's rule"])[:, 0]) > 2 * np.median(centre)


def test_dlib_cnn_finds_its_weights_without_importing_face_recognition_models():
    """face_recognition_models' __init__ needs pkg_resources (gone from setuptools 81): the detector locates the
    package's files instead of importing it."""
    pytest.importorskip("dlib")
    import importlib.util
    import sys

    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("the [dlib-cnn] extra is not installed")
    photo = portraits()[0]
    lo, hi = photo.reference.min(0), photo.reference.max(0)
    x0, y0 = (lo - 0.6 * (hi - lo)).astype(int)
    x1, y1 = (hi + 0.6 * (hi - lo)).astype(int)
    crop = np.ascontiguousarray(photo.image[y0:y1, x0:x1])
    found = detect_face(crop, "front", "dlib-cnn")
    assert found is not None and found.detector == "dlib-cnn"
    assert on_the_face(tuple(np.add(found.box, [x0, y0, 0, 0])), photo)
    assert "face_recognition_models" not in sys.modules


@pytest.mark.slow
def test_default_detection_meets_issue_22_on_every_real_photo():
    """The targets: a box on the face in >= 99 of LFW's 100 faces and all three portraits, a "face" in <= 2 of its
    100 non-faces (as front and as side photos); and the crops, rotations and textures as the research measured
    them (15/15; >= 98 of the 100 rotated faces; <= 2 of 100 textures)."""
    got = {name: score(_auto, make()) for name, make in SETS.items() if name not in ("lfw_nonfaces", "textures")}
    assert got["portraits"]["on_face"] == 3 and got["portraits_aug"]["on_face"] == 15, got
    assert got["lfw_faces"]["on_face"] >= 99 and got["lfw_faces_rot"]["on_face"] >= 98, got
    for name in ("lfw_nonfaces", "textures"):
        for view in ("front", "side"):
            photos = [p.__class__(p.name, p.image, None, view) for p in SETS[name]()]
            assert score(_auto, photos)["false_positives"] <= 2, (name, view)
