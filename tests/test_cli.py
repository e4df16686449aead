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
    out = _run("preview", "--n", "2", "--out", str(tmp_path / "grid.png"))
    assert out.returncode == 0, out.stderr
    assert np.asarray(Image.open(tmp_path / "grid.png")).shape == (512, 1024, 3)


def test_a_bad_model_spec_is_a_one_line_error(tmp_path):
    out = _run("preview", "--n", "1", "--source", "bfm:/nowhere/BFM.mat", "--out", str(tmp_path / "g.png"))
    assert out.returncode == 1
    assert "BFM.mat" in out.stderr and "Traceback" not in out.stderr
