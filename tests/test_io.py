"""The one atomic writer: permissions, failures, URLs, stale temp files, and that it is the only one."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from frontside.io import is_temp_name, read_bytes, remove_stale_temps, write_atomic
from frontside.pictures import write_png

ROOT = Path(__file__).resolve().parents[1]


def test_files_get_the_folders_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.bin", b"abc")
        write_png(tmp_path / "grid.png", np.zeros((4, 4, 3), np.uint8))  # `preview` wrote 0600 files before
    finally:
        os.umask(old)
    for name in ("a.bin", "grid.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    assert (tmp_path / "a.bin").read_bytes() == b"abc"


def test_a_failed_write_leaves_no_temp_file(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep").write_bytes(b"x")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "taken", b"new")  # a rename cannot replace a non-empty folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_urls_are_written_through_fsspec():
    import fsspec

    write_atomic("memory://io-test/deep/a.txt", "héllo")
    assert read_bytes("memory://io-test/deep/a.txt") == "héllo".encode()
    assert fsspec.filesystem("memory").ls("/io-test/deep", detail=False) == ["/io-test/deep/a.txt"]


def test_stale_temp_files_are_recognised_by_name(tmp_path):
    temps = [".last.pt.tmp-0123456789abcdef", ".shard-00001.parquet.tmp-5f0c2a1e9b8d7c6f5e4d3c2b1a098765",
             ".posmap.png.tmp-ab_c12xy"]
    others = ["last.pt", ".frontside.lock", "x.tmp-1", ".hidden", "notes.tmp"]
    for name in temps + others:
        (tmp_path / name).write_bytes(b"")
    assert all(is_temp_name(n) for n in temps) and not any(is_temp_name(n) for n in others)
    assert remove_stale_temps(tmp_path) == sorted(temps)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)


def test_there_is_one_atomic_writer():
    """A rename into place (os.replace/rename, fsspec mv, shutil.move) or a hand-made temp file exists only in
    frontside/io.py."""
    pattern = re.compile(r"os\.replace\(|os\.rename\(|\.mv\(|shutil\.move\(|mkstemp\(|NamedTemporaryFile\(|"
                         r"\.tmp[-.\"']")
    found = [f"{p.relative_to(ROOT)}:{i + 1}: {line.strip()}"
             for folder in ("frontside", "benchmarks") for p in sorted((ROOT / folder).rglob("*.py"))
             if p != ROOT / "frontside" / "io.py"
             for i, line in enumerate(p.read_text().splitlines()) if pattern.search(line)]
    assert found == []
