"""The command line as a user meets it: a real subprocess, real files."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "frontside.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_help_lists_the_commands():
    out = _run("--help")
    assert out.returncode == 0
    for command in ("demo", "smoke", "preview", "generate", "convert-300wlp", "train", "evaluate"):
        assert command in out.stdout


def test_smoke_writes_a_posmap_picture_and_an_obj(tmp_path):
    out = _run("smoke", "--out", str(tmp_path / "smoke"))
    assert out.returncode == 0, out.stderr
    picture = np.asarray(Image.open(tmp_path / "smoke" / "posmap.png"))
    assert picture.shape == (256, 256, 3) and picture.std() > 20
    obj = (tmp_path / "smoke" / "face.obj").read_text()
    assert obj.count("\nf ") >= 20_000


def test_preview_grid(tmp_path):
    out = _run("preview", "--n", "2", "--size", "128", "--out", str(tmp_path / "grid.png"))
    assert out.returncode == 0, out.stderr
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (256, 7 * 128, 3)
    assert len(np.unique(grid[:128, 128:256].reshape(-1, 3), axis=0)) >= 6  # the parts tile shows the parts


def test_a_bad_model_spec_is_a_one_line_error(tmp_path):
    out = _run("preview", "--n", "1", "--source", "bfm:/nowhere/BFM.mat", "--out", str(tmp_path / "g.png"))
    assert out.returncode == 1
    assert "BFM.mat" in out.stderr and "Traceback" not in out.stderr


def test_info_summarises_and_validates_every_shard(tmp_path, tiny_dataset):
    import shutil

    out = _run("info", tiny_dataset)
    assert out.returncode == 0, out.stderr
    assert "12 pairs in 3 shards" in out.stdout and "3 of 3 valid" in out.stdout and "256 x 256" in out.stdout
    assert "front_segmentation" in out.stdout and "front_depth" in out.stdout
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    data = (copy / "shard-00001.parquet").read_bytes()
    (copy / "shard-00001.parquet").write_bytes(data[:1000])
    out = _run("info", str(copy))
    assert out.returncode == 1 and "2 of 3 valid" in out.stdout and "shard-00001.parquet" in out.stdout


def test_generate_refuses_a_size_that_is_not_a_multiple_of_32(tmp_path):
    out = _run("generate", "--faces", "1", "--out", str(tmp_path / "d"), "--size", "100")
    assert out.returncode == 1 and "--size" in out.stderr and "multiple of 32" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "d").exists()
