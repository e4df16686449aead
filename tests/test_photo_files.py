"""Photos as phones and cameras write them (issue 22, items 5 and 6): EXIF orientation 1-8, CMYK, 16-bit, grey,
alpha, palette, WebP, very large photos, malformed EXIF blocks, and a front photo alone for one-view networks. Each file is written in its
real format by Pillow or OpenCV from the portraits that ship with scikit-image and matplotlib, then read, detected
and reconstructed as `frontside reconstruct` does. (Files that must be refused, too small or too large, are in the
bad-input corpus, tests/test_bad_inputs.py.)"""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from frontside.cli import main
from frontside.images import NEUTRAL_GREY, read_photo
from frontside.reconstruct.crop import crop_box
from frontside.reconstruct.detect import detect_face
from tools.real_photos import on_the_face, portraits

# the transpose that stores an upright photo so that a viewer honouring EXIF orientation k shows it upright
STORED = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
          7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def save_oriented(image: np.ndarray, orientation: int, path, **options) -> None:
    """`image` stored as a camera does for EXIF `orientation`: pixels turned, the tag saying how to turn back."""
    upright = Image.fromarray(image)
    stored = upright if STORED[orientation] is None else upright.transpose(STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, exif=exif.tobytes(), **options)


@pytest.fixture(scope="module")
def frontonly_checkpoint(tmp_path_factory) -> str:
    """An untrained front-only network: answers deterministically, which is all "reconstructed alike" needs."""
    import torch

    from frontside.learning.checkpoint.saving import save_checkpoint
    from frontside.learning.networks.registry import build

    torch.manual_seed(0)
    return str(save_checkpoint(tmp_path_factory.mktemp("frontonly") / "best.pt", network=build("frontonly")))


@pytest.fixture(scope="module")
def reconstructor(frontonly_checkpoint):
    from frontside.reconstruct.pipeline import Reconstructor

    return Reconstructor(frontonly_checkpoint)


def test_every_exif_orientation_reads_upright(tmp_path):
    photo = portraits()[0].image
    for k in STORED:
        save_oriented(photo, k, tmp_path / f"o{k}.png")
        assert np.array_equal(read_photo(tmp_path / f"o{k}.png"), photo), k
    stored = read_photo(tmp_path / "o6.png", orientation=False)  # what annotated datasets read: the stored pixels
    assert stored.shape == (512, 512, 3) and not np.array_equal(stored, photo)


def test_a_malformed_exif_block_leaves_the_stored_pixels(tmp_path):
    """A JPEG whose EXIF block is broken (neither byte order; its IFD offset past the end; an orientation of 0 or
    9) reads as stored, as browsers show it, silently (Pillow's "Corrupt EXIF data" warning
    does not reach the user), and the face is found."""
    import warnings

    photo = portraits()[0]
    save_oriented(photo.image, 6, tmp_path / "o6.jpg", quality=95)
    raw = (tmp_path / "o6.jpg").read_bytes()
    at = raw.find(b"Exif\x00\x00") + 6
    assert raw[at:at + 4] in (b"MM\x00*", b"II*\x00")
    big = raw[at:at + 2] == b"MM"
    breaks = {"byte order": (0, b"XX"), "offset": (4, b"\x7f\xff\xff\xff"),
              "orientation 0": (18, b"\x00\x00"), "orientation 9": (18, b"\x00\x09" if big else b"\x09\x00")}
    stored = read_photo(tmp_path / "o6.jpg", orientation=False)
    for name, (offset, change) in breaks.items():
        broken = bytearray(raw)
        broken[at + offset:at + offset + len(change)] = change
        (tmp_path / "broken.jpg").write_bytes(bytes(broken))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            image = read_photo(tmp_path / "broken.jpg")
        assert np.array_equal(image, stored), name
        turned = np.ascontiguousarray(np.rot90(image, -1))  # the stored portrait, upright again, is found
        found = detect_face(turned, "front")
        assert found is not None and on_the_face(found.box, photo), name


def test_portraits_with_each_exif_orientation_are_found_and_reconstructed_alike(tmp_path, reconstructor):
    """The three portraits as phone JPEGs with EXIF orientation 1-8: each found on the face, with the same box,
    crops, landmarks and position map as orientation 1 (up to JPEG's re-encoding of turned pixels)."""
    for photo in portraits():
        results = {}
        for k in STORED:
            path = tmp_path / f"{photo.name}-{k}.jpg"
            save_oriented(photo.image, k, path, quality=95)
            results[k] = reconstructor.reconstruct(str(path), iterations=2)
        upright = results[1]
        assert on_the_face(upright.front.detection.box, photo), photo.name
        for k, result in results.items():
            assert result.front.image.shape == photo.image.shape, (photo.name, k)
            assert np.abs(np.subtract(result.front.detection.box, upright.front.detection.box)).max() < 2.0, k
            assert np.abs(np.subtract(crop_box(result.front.crops[-1], 256), crop_box(upright.front.crops[-1], 256))
                          ).max() < 2.0, (photo.name, k)
            assert np.abs(result.front.landmarks - upright.front.landmarks).max() < 2.0, (photo.name, k)
            assert np.abs(result.posmap - upright.posmap).mean() < 0.5, (photo.name, k)


def _kinds(photo: np.ndarray, folder) -> dict[str, tuple[object, np.ndarray]]:
    """Files of other kinds, each with the RGB a viewer shows for it."""
    grey = np.asarray(Image.fromarray(photo).convert("L"))
    files = {}
    Image.fromarray(photo).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    files["cmyk.jpg"] = photo
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "grey16.png")  # mode I;16
    files["grey16.png"] = np.repeat(grey[..., None], 3, axis=2)
    cv2.imwrite(str(folder / "rgb48.png"), cv2.cvtColor(photo.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    files["rgb48.png"] = photo
    Image.fromarray(grey).save(folder / "grey.jpg", quality=95)
    files["grey.jpg"] = np.repeat(grey[..., None], 3, axis=2)
    Image.fromarray(np.stack([grey, np.full_like(grey, 255)], axis=2), "LA").save(folder / "la.png")
    files["la.png"] = np.repeat(grey[..., None], 3, axis=2)
    rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 255, np.uint8)], axis=2)
    rgba[:, 330:, 3] = 0  # the right part transparent: its hidden colour (here white) must not show
    rgba[:, 330:, :3] = 255
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    shown = photo.copy()
    shown[:, 330:] = NEUTRAL_GREY
    files["rgba.png"] = shown
    Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    files["palette.png"] = photo
    Image.fromarray(photo).save(folder / "photo.webp", quality=90)
    files["photo.webp"] = photo
    return files


def test_other_kinds_of_photo_file_read_as_viewers_show_them_and_are_found(tmp_path):
    """CMYK JPEG, 16-bit grey (scaled, not clipped to white), 48-bit RGB, grey, grey + alpha, RGBA (composited on
    neutral grey), palette, WebP: each reads as what a viewer shows (within a lossy format's error) and the
    astronaut is found in each."""
    photo = portraits()[0]
    for name, (expected) in _kinds(photo.image, tmp_path).items():
        image = read_photo(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == photo.image.shape, name
        error = np.abs(image.astype(int) - expected.astype(int)).mean()
        assert error < (12.0 if name == "palette.png" else 3.0), (name, error)
        found = detect_face(image, "front")
        assert found is not None and on_the_face(found.box, photo), name


def test_a_large_photo_is_cropped_from_its_full_resolution(tmp_path, reconstructor):
    """A 4000 x 3000 JPEG (a 12 MP phone photo) with the portrait magnified 5x: detected on a shrunk copy, the
    crops cut from the full photo around the face, area-averaged (a 256 crop of a ~900 px face)."""
    photo = portraits()[0]
    big = np.full((3000, 4000, 3), 120, np.uint8)
    big[200:2760, 700:3260] = cv2.resize(photo.image, (2560, 2560), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=90)
    result = reconstructor.reconstruct(str(tmp_path / "big.jpg"), iterations=1)
    assert result.front.image.shape == (3000, 4000, 3)
    box = np.subtract(result.front.detection.box, [700, 200, 0, 0]) / 5.0
    assert on_the_face(tuple(box), photo)
    x, y, side = crop_box(result.front.crops[0], 256)
    assert 400 < side < 1000 and on_the_face(((x - 700) / 5, (y - 200) / 5, side / 5, side / 5), photo)
    crop = result.front.crop_image.astype(np.float64)
    assert crop.std() > 20 and np.abs(np.diff(crop, axis=1)).mean() < 12  # a face, not aliased pixel noise


@pytest.mark.slow
def test_a_front_photo_alone_with_a_one_view_network(tmp_path, frontonly_checkpoint, capsys, caplog):
    """`reconstruct --front F` with a front-only network writes the mesh and face.json (side: null); a side photo
    given too is not used (and says so); --pairs reads front/ alone."""
    photo = portraits()[2]
    Image.fromarray(photo.image).save(tmp_path / "grace.jpg", quality=95)
    code = main(["reconstruct", "--front", str(tmp_path / "grace.jpg"), "--checkpoint", frontonly_checkpoint,
                 "--out", str(tmp_path / "face.obj"), "--iterations", "1"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "face.json").read_text())
    assert record["side"] is None and record["arch"] == "frontonly"
    assert record["front"]["detection"]["detector"].startswith("blazeface")
    assert on_the_face(record["front"]["detection"]["box"], photo)
    notes = logging.getLogger("frontside")  # the package's notes stop there (the command shows them on stderr)
    notes.addHandler(caplog.handler)
    try:
        with caplog.at_level("WARNING", logger="frontside"):
            code = main(["reconstruct", "--front", str(tmp_path / "grace.jpg"), "--side", str(tmp_path / "grace.jpg"),
                         "--checkpoint", frontonly_checkpoint, "--out", str(tmp_path / "again.obj"),
                         "--iterations", "1"])
    finally:
        notes.removeHandler(caplog.handler)
    assert code == 0 and "not used" in caplog.text and "front-only network" in caplog.text, caplog.text
    (tmp_path / "pairs" / "front").mkdir(parents=True)
    Image.fromarray(photo.image).save(tmp_path / "pairs" / "front" / "grace.png")
    code = main(["reconstruct", "--pairs", str(tmp_path / "pairs"), "--checkpoint", frontonly_checkpoint,
                 "--out", str(tmp_path / "out"), "--iterations", "1"])
    assert code == 0 and (tmp_path / "out" / "grace" / "face.obj").exists()
    assert "1 of 1 pairs reconstructed" in capsys.readouterr().out
