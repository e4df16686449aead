"""The shared checks and the one-line error: images checked from their header, errors from DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest
from made_files import png_declaring
from PIL import Image

from frontside import checks
from frontside.errors import DataIntegrityError, InputFormatError, ParameterError, one_line


def test_images_are_checked_from_their_header_before_decoding(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "ok.png")
    assert checks.image_size(tmp_path / "ok.png") == (40, 30)
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match=r"cut\.png: image: not a readable image"):
        checks.image_size(tmp_path / "cut.png")
    for side in (9_000, 200_000):  # over our budget, and over PIL's own bomb limit
        (tmp_path / "bomb.png").write_bytes(png_declaring(side, side))
        with pytest.raises(InputFormatError, match=r"bomb\.png: image: declares"):
            checks.image_size(tmp_path / "bomb.png")


def test_numbers_and_locations(tmp_path):
    assert checks.integer("n", 3, minimum=1) == 3
    for bad in (0, -1, True, 2.0, "3"):
        with pytest.raises(ParameterError, match=r"^n: "):
            checks.integer("n", bad, minimum=1)
    with pytest.raises(ParameterError, match="finite number > 0"):
        checks.positive_number("lr", float("nan"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        checks.output_folder("out", tmp_path / "file")
    assert checks.output_folder("out", tmp_path / "new" / "deeper") == str(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # checked, not created
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]  # the write probe left nothing


def test_an_error_from_a_dataloader_worker_is_its_own_message():
    from torch._utils import ExceptionWrapper

    for error in (DataIntegrityError("/d/shard-00001.parquet: sha256 does not match the manifest"),
                  InputFormatError("/d/uv_regions.png", "image", "cannot be decoded")):
        try:
            try:
                raise error
            except type(error):
                ExceptionWrapper(where="in DataLoader worker process 0").reraise()
        except Exception as wrapped:  # torch puts the worker's traceback into the message
            assert "Original Traceback" in str(wrapped)
            assert one_line(wrapped) == str(error)
