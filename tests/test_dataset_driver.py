"""The dataset driver on its own (no Prefect): what it refuses, what it keeps, what it cleans, and its lock.

Each test here failed on fb447a8, where a bad run wrote its manifest first, an unreadable manifest meant "new
folder", paths stood for content, manifest names were joined unchecked and two writers both passed the check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from made_files import grid_model
from PIL import Image

from frontside.errors import DataIntegrityError, FolderInUseError, InputFormatError, ParameterError
from frontside.store.driver import make_dataset
from frontside.store.lock import LOCK_NAME, FolderLock
from frontside.store.manifest import Manifest, list_shards, verify
from frontside.synthesis.config import GenerateParams
from frontside.synthesis.generate import GenerateSource

ROOT = Path(__file__).resolve().parents[1]
PARAMS = dict(n_faces=2, shard_size=1, seed=5, size=64)


def _source(**changes) -> GenerateSource:
    return GenerateSource(GenerateParams(**{**PARAMS, **changes}))


def _state(folder: Path) -> dict:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def made(tmp_path_factory, builtin_model) -> Path:
    out = tmp_path_factory.mktemp("made") / "ds"
    make_dataset(_source(), str(out))
    return out


@pytest.fixture
def copy(made, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(made, target)
    return target


def test_bad_parameters_and_inputs_write_nothing(tmp_path, builtin_model):
    out = tmp_path / "never"
    for bad, name in ((dict(n_faces=0), "n_faces"), (dict(shard_size=0), "shard_size"), (dict(seed=-1), "seed"),
                      (dict(source="nosuch"), "source"), (dict(size=8), "size"), (dict(n_faces="3"), "n_faces")):
        with pytest.raises(ParameterError) as caught:
            make_dataset(_source(**bad), str(out))
        assert caught.value.name == name
    (tmp_path / "broken.mat").write_bytes(b"MATLAB 5.0 MAT-file, but not really")
    with pytest.raises(InputFormatError, match=r"broken\.mat: file: not a readable MATLAB"):
        make_dataset(_source(source=f"bfm:{tmp_path / 'broken.mat'}"), str(out))
    assert not out.exists()


@pytest.mark.parametrize("keep", [0, 1, 2, 17, "third", "half", "all but 2"])
def test_an_unreadable_manifest_is_an_error_never_a_new_folder(copy, keep):
    text = (copy / "manifest.json").read_bytes()
    cut = {"third": len(text) // 3, "half": len(text) // 2, "all but 2": len(text) - 2}.get(keep, keep)
    (copy / "manifest.json").write_bytes(text[:cut])
    before = _state(copy)
    # other parameters: at fb447a8 this run was treated as a new dataset and overwrote the shards
    with pytest.raises(DataIntegrityError, match=r"manifest\.json: file: not valid JSON"):
        make_dataset(_source(seed=99), str(copy))
    assert _state(copy) == before


@pytest.mark.parametrize("name", ["../../x.parquet", "/etc/x.parquet", "sub/x.parquet", ".hidden.parquet",
                                  "shard.txt", "", 7])
def test_shard_names_must_be_plain_file_names(made, name):
    body = json.loads((made / "manifest.json").read_text())
    body["shards"][0]["name"] = name
    with pytest.raises(DataIntegrityError, match=r"manifest\.json: shards\[0\]\.name"):
        Manifest.parse(json.dumps(body).encode(), str(made / "manifest.json"))
    assert all(Path(url).parent == made for url, _ in list_shards(str(made)))


def test_a_changed_model_file_is_refused_and_another_spelling_of_it_is_not(tmp_path, monkeypatch):
    from frontside.facemodel.bfm import save_bfm

    model = grid_model()
    save_bfm(model, tmp_path / "BFM.mat", tmp_path / "BFM_UV.mat")
    out = tmp_path / "bfm-data"
    make_dataset(_source(source=f"bfm:{tmp_path / 'BFM.mat'}"), str(out))
    monkeypatch.chdir(tmp_path)  # the same folder and model, spelled relative: the same dataset
    again = make_dataset(_source(source="bfm:BFM.mat,uv=BFM_UV.mat"), "bfm-data")
    assert (again.written, again.kept) == (0, 2)

    from dataclasses import replace

    save_bfm(replace(model, mean=model.mean * 1.01), tmp_path / "BFM.mat", tmp_path / "BFM_UV.mat")
    (out / "shard-00001.parquet").unlink()
    before = _state(out)
    with pytest.raises(DataIntegrityError, match="made differently.*model_sha256: was '"):
        make_dataset(_source(source=f"bfm:{tmp_path / 'BFM.mat'}"), str(out))
    assert _state(out) == before  # the missing shard was not redone from the other model


def test_size_and_depth_are_recorded_and_a_resume_must_match_them(copy):
    manifest = Manifest.load(str(copy))
    assert {k: manifest.parameters[k] for k in ("size", "renderer", "depth")} == dict(size=64, renderer="raster",
                                                                                     depth=True)
    assert manifest.identity["size"] == 64 and manifest.size == 64
    (copy / "shard-00001.parquet").unlink()  # a resume would redo it: at another size, the dataset would mix two
    before = _state(copy)
    for change, difference in ((dict(size=96), "size: was 64, now 96"), (dict(depth=False), "depth: was True, now "
                                                                                             "False")):
        with pytest.raises(DataIntegrityError, match=re.escape(f"made differently ({difference})")):
            make_dataset(_source(**change), str(copy))
    assert _state(copy) == before
    body = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**body, "format": "1"}))  # shards written before format 2
    before = _state(copy)
    with pytest.raises(DataIntegrityError, match=re.escape("shard format: was '1', now '3'")):
        make_dataset(_source(), str(copy))
    assert _state(copy) == before


def test_a_format_2_dataset_is_not_resumed_in_format_3(tmp_path):
    """The previous release's dataset (tests/fixtures/format2, two views a row): a resume would mix formats."""
    old = tmp_path / "format2"
    shutil.copytree(ROOT / "tests" / "fixtures" / "format2", old)
    before = _state(old)
    with pytest.raises(DataIntegrityError, match=re.escape("shard format: was '2', now '3'")):
        make_dataset(GenerateSource(GenerateParams(n_faces=2, shard_size=2, seed=5, size=64)), str(old))
    assert _state(old) == before


@pytest.fixture(scope="module")
def made3(tmp_path_factory, builtin_model) -> Path:
    """`made`'s parameters with three views a face."""
    out = tmp_path_factory.mktemp("made3") / "ds"
    make_dataset(_source(views=3), str(out))
    return out


def test_views_are_recorded_and_a_resume_must_match_them(made3, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(made3, copy)
    manifest = Manifest.load(str(copy))
    assert manifest.parameters["views"] == 3 and manifest.identity["views"] == 3
    (copy / "shard-00001.parquet").unlink()  # a resume would redo it: with two views, the dataset would mix two
    before = _state(copy)
    for views in (2, 4):
        with pytest.raises(DataIntegrityError, match=re.escape(f"made differently (views: was 3, now {views})")):
            make_dataset(_source(views=views), str(copy))
    assert _state(copy) == before
    assert make_dataset(_source(views=3), str(copy)).written == 1


def test_a_faces_first_two_views_are_the_same_whatever_the_number_of_views(made, made3):
    """Views after the second draw from a child of the face's seed: the 3-view dataset's front and first side
    view decode to exactly the 2-view dataset's pixels and labels; its third view is on the other side."""
    from frontside.store.shards import decode_row, read_shard

    for (url2, _), (url3, _) in zip(list_shards(str(made)), list_shards(str(made3)), strict=True):
        two, three = read_shard(url2), read_shard(url3)
        for i in range(two.num_rows):
            a, b = decode_row(two, i), decode_row(three, i)
            assert len(a.views) == 2 and len(b.views) == 3
            np.testing.assert_array_equal(a.posmap, b.posmap)
            np.testing.assert_array_equal(a.coefficients.identity, b.coefficients.identity)
            for x, y in zip(a.views, b.views):
                assert (x.kind, x.yaw, x.pitch, x.roll) == (y.kind, y.yaw, y.pitch, y.roll)
                np.testing.assert_array_equal(x.image, y.image)
                for name in ("segmentation", "depth", "landmarks", "visible"):
                    np.testing.assert_array_equal(getattr(x.labels, name), getattr(y.labels, name))
                np.testing.assert_array_equal(x.labels.camera.world_to_vcs, y.labels.camera.world_to_vcs)
            assert {b.views[1].kind, b.views[2].kind} == {"left", "right"}
            assert 45 < abs(b.views[2].yaw) <= 100


def test_changed_backgrounds_are_refused(tmp_path, builtin_model):
    images = tmp_path / "dtd" / "images" / "banded"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(images / name)
    out = tmp_path / "with-backgrounds"
    make_dataset(_source(n_faces=1, backgrounds=str(tmp_path / "dtd")), str(out))
    recorded = Manifest.load(str(out)).inputs["backgrounds"]
    assert recorded["files"] == 2 and len(recorded["sha256"]) == 64

    Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(images / "c.jpg")
    with pytest.raises(DataIntegrityError, match="backgrounds: was '"):
        make_dataset(_source(n_faces=1, backgrounds=str(tmp_path / "dtd")), str(out))
    (images / "c.jpg").unlink()
    Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(images / "b.jpg")  # same name, new pixels
    with pytest.raises(DataIntegrityError, match="backgrounds: was '"):
        make_dataset(_source(n_faces=1, backgrounds=str(tmp_path / "dtd")), str(out))


def test_every_run_is_recorded_and_stale_temp_files_are_removed(copy):
    leftovers = [".shard-00000.parquet.tmp-0123456789abcdef", ".manifest.json.tmp-a1b2c3d4"]
    for name in leftovers:
        (copy / name).write_bytes(b"half a file from a killed run")
    (copy / ".keep").write_bytes(b"not ours")
    summary = make_dataset(_source(), str(copy))
    assert (summary.written, summary.kept) == (0, 2) and summary.removed_temps == sorted(leftovers)
    assert not any((copy / name).exists() for name in leftovers) and (copy / ".keep").exists()
    manifest = Manifest.load(str(copy))
    assert len(manifest.runs) == 2 and manifest.code_version == manifest.runs[0]["code_version"]
    assert manifest.extra["last_run"]["removed_temps"] == sorted(leftovers)
    assert not (copy / LOCK_NAME).exists()


def test_a_held_lock_is_refused_naming_its_holder_and_a_dead_ones_is_taken_over(copy):
    before = _state(copy)
    with FolderLock(str(copy)):
        with pytest.raises(FolderInUseError, match=rf"another run \(pid {os.getpid()} on host"):
            make_dataset(_source(), str(copy))
    assert _state(copy) == before
    # a lock file whose process is gone (SIGKILL): unlocked, so the next run takes it
    (copy / LOCK_NAME).write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": "elsewhere"}))
    assert make_dataset(_source(), str(copy)).kept == 2
    assert not (copy / LOCK_NAME).exists()


RACER = """
import sys, time
from pathlib import Path
from frontside.store.driver import build_dataset, check_dataset
from frontside.synthesis.config import GenerateParams
from frontside.synthesis.generate import GenerateSource

out, seed, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
plan = check_dataset(GenerateSource(GenerateParams(n_faces=2, shard_size=1, seed=seed, size=64)), out)
Path(f"{go}.ready-{seed}").touch()
while not go.exists():
    time.sleep(0.001)
build_dataset(plan)
print("finished")
"""


@pytest.mark.slow
def test_two_processes_starting_together_never_both_write(tmp_path, builtin_model):
    """Both pass the check on the empty folder, then start writing at the same moment: one must lose, by the
    lock or (had the winner already finished) by the parameter check under it."""
    out, go = tmp_path / "contested", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    racers = {seed: subprocess.Popen([sys.executable, "-c", RACER, str(out), str(seed), str(go)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)}
    while not all(Path(f"{go}.ready-{seed}").exists() for seed in racers):
        assert all(p.poll() is None for p in racers.values()), [p.communicate() for p in racers.values()]
    go.touch()
    results = {seed: (p.wait(timeout=300), *p.communicate()) for seed, p in racers.items()}
    winners = [seed for seed, (code, _, _) in results.items() if code == 0]
    assert len(winners) == 1, results
    loser = next(seed for seed in results if seed not in winners)
    assert "another run (pid" in results[loser][2] or "made differently" in results[loser][2], results[loser]
    manifest = Manifest.load(str(out))
    assert manifest.parameters["seed"] == winners[0] and len(manifest.runs) == 1
    assert verify(str(out)) == [] and len(manifest.shards) == 2


@pytest.mark.slow
@pytest.mark.parametrize("views", [2, 3])
def test_spawned_worker_processes_and_a_second_run_give_the_same_bytes(made, made3, tmp_path, views):
    from frontside.store.driver import run_in_processes

    reference = made if views == 2 else made3

    def shards(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in folder.glob("shard-*.parquet")}

    summary = make_dataset(_source(views=views), str(tmp_path / "spawned"), run_in_processes(2))
    assert summary.written == 2
    assert shards(tmp_path / "spawned") == shards(reference) and len(shards(reference)) == 2
    if views == 3:
        make_dataset(_source(views=views), str(tmp_path / "again"))
        assert shards(tmp_path / "again") == shards(reference)


def test_every_dataset_gets_its_sample_grid_and_a_resume_restores_a_lost_one(copy):
    """The driver (with or without Prefect) writes the grid of the first shard's pairs beside the shards, and the
    card shows it; a resume that keeps every shard makes a missing grid again and leaves an existing one alone."""
    from frontside.store.card import SAMPLE_GRID_NAME
    from frontside.store.grid import face_grid
    from frontside.store.shards import decode_row, read_shard

    grid_path = copy / SAMPLE_GRID_NAME
    first = read_shard(str(copy / "shard-00000.parquet"))
    expected = face_grid([decode_row(first, i) for i in range(first.num_rows)])
    np.testing.assert_array_equal(np.asarray(Image.open(grid_path).convert("RGB")), expected)
    assert f"![sample faces]({SAMPLE_GRID_NAME})" in (copy / "README.md").read_text()
    grid_path.unlink()
    summary = make_dataset(_source(), str(copy))
    assert summary.kept == 2 and grid_path.exists()
    before = grid_path.stat().st_mtime_ns
    make_dataset(_source(), str(copy))
    assert grid_path.stat().st_mtime_ns == before
