from pathlib import Path

import numpy as np
import pytest

from frontside.errors import DataIntegrityError
from frontside.store.manifest import Manifest, ShardInfo, verify
from frontside.store.records import Face, FaceMeta, View
from frontside.store.shards import TRAINING_COLUMNS, decode_row, read_shard, shard_size, write_shard


def random_face(rng: np.random.Generator, i: int, size: int = 256) -> Face:
    """A face of two views with random pixels and no labels."""
    meta = FaceMeta(face_id=f"t-{i:06d}", seed=1, face_index=i, source="builtin", renderer="pyrender",
                    model="builtin-v1")
    views = (View(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "front", float(rng.uniform(-45, 45)), 1.0,
                  2.0),
             View(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "right", 70.0, -1.0, 0.5))
    return Face(views=views, posmap=rng.uniform(0, size, (size, size, 3)).astype(np.float32),
                mask=rng.random((size, size)) > 0.3, landmarks=rng.uniform(0, size, (68, 3)).astype(np.float32),
                meta=meta)


def cut(face: Face, **changes) -> Face:
    """`face` with its arrays replaced (a face no shard may hold)."""
    from dataclasses import replace

    return replace(face, **changes)


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pairs = [random_face(rng, i) for i in range(3)]
    info = write_shard(str(tmp_path / "shard-00000.parquet"), pairs)
    assert info.rows == 3 and len(info.sha256) == 64
    table = read_shard(str(tmp_path / "shard-00000.parquet"), info)
    for i, pair in enumerate(pairs):
        back = decode_row(table, i)
        assert back.meta == pair.meta and [v.kind for v in back.views] == ["front", "right"]
        assert back.views[0].yaw == pytest.approx(pair.views[0].yaw, abs=1e-4)  # stored as float32
        np.testing.assert_array_equal(back.front, pair.front)
        np.testing.assert_array_equal(back.side, pair.side)
        np.testing.assert_array_equal(back.mask, pair.mask)
        np.testing.assert_array_equal(back.landmarks, pair.landmarks)
        np.testing.assert_allclose(back.posmap, pair.posmap, rtol=1e-3, atol=0.13)  # float16
    assert table.schema.metadata[b"posmap_dtype"] == b"<f2"


def test_same_pairs_same_bytes(tmp_path):
    pairs = [random_face(np.random.default_rng(1), i) for i in range(2)]
    a = write_shard(str(tmp_path / "a.parquet"), pairs)
    b = write_shard(str(tmp_path / "b.parquet"), pairs)
    assert a.sha256 == b.sha256
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_truncated_or_mismatching_shard_is_a_clear_error(tmp_path):
    url = str(tmp_path / "shard-00001.parquet")
    info = write_shard(url, [random_face(np.random.default_rng(2), 0)])
    data = (tmp_path / "shard-00001.parquet").read_bytes()
    (tmp_path / "shard-00001.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataIntegrityError, match="shard-00001.parquet"):
        read_shard(url, info)
    with pytest.raises(DataIntegrityError, match="shard-00001.parquet"):
        read_shard(url)  # no manifest to compare with: still not a readable Parquet file
    with pytest.raises(DataIntegrityError, match="missing"):
        read_shard(str(tmp_path / "nope.parquet"))


def test_manifest_round_trip_and_verify(tmp_path):
    info = write_shard(str(tmp_path / "shard-00000.parquet"), [random_face(np.random.default_rng(3), 0)])
    manifest = Manifest(parameters={"n_faces": 1}, shards={info.name: info}, code_version="x")
    manifest.save(str(tmp_path))
    loaded = Manifest.load(str(tmp_path))
    assert loaded.shards == {info.name: info} and loaded.rows == 1
    assert verify(str(tmp_path)) == []
    (tmp_path / "shard-00000.parquet").unlink()
    assert verify(str(tmp_path)) == ["shard-00000.parquet"]
    with pytest.raises(DataIntegrityError, match="manifest"):
        Manifest.load(str(tmp_path / "elsewhere"))
    assert isinstance(loaded.shards[info.name], ShardInfo)


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    bad = random_face(np.random.default_rng(4), 0)
    bad = cut(bad, posmap=bad.posmap[:10])
    with pytest.raises(ValueError):
        write_shard(str(tmp_path / "shard-00000.parquet"), [bad])
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_no_temp_file_and_the_target_untouched(tmp_path):
    # a non-empty folder where the shard should go makes the final rename fail for real
    (tmp_path / "shard-00000.parquet").mkdir()
    (tmp_path / "shard-00000.parquet" / "keep").write_bytes(b"x")
    with pytest.raises(OSError):
        write_shard(str(tmp_path / "shard-00000.parquet"), [random_face(np.random.default_rng(5), 0)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-00000.parquet"]
    assert [p.name for p in (tmp_path / "shard-00000.parquet").iterdir()] == ["keep"]


def test_a_failed_write_keeps_the_previous_shard(tmp_path):
    url = str(tmp_path / "shard-00000.parquet")
    good = write_shard(url, [random_face(np.random.default_rng(6), 0)])
    bad = random_face(np.random.default_rng(6), 1)
    with pytest.raises(ValueError):
        write_shard(url, [random_face(np.random.default_rng(6), 0), cut(bad, posmap=bad.posmap[:5])])
    assert read_shard(url, good).num_rows == 1
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.parquet"]


def test_extra_metadata_is_stored_and_may_not_replace_the_format_keys(tmp_path):
    pairs = [random_face(np.random.default_rng(7), 0)]
    a = write_shard(str(tmp_path / "a.parquet"), pairs, {"dataset": "unit", "n": 3})
    b = write_shard(str(tmp_path / "b.parquet"), pairs, {"n": 3, "dataset": "unit"})  # order does not matter
    assert a.sha256 == b.sha256
    assert a.sha256 != write_shard(str(tmp_path / "c.parquet"), pairs).sha256
    meta = read_shard(str(tmp_path / "a.parquet"), a).schema.metadata
    assert meta[b"dataset"] == b"unit" and meta[b"n"] == b"3" and meta[b"frontside.format"] == b"3"
    with pytest.raises(ValueError, match="posmap_dtype"):
        write_shard(str(tmp_path / "d.parquet"), pairs, {"posmap_dtype": "<f4"})
    assert not (tmp_path / "d.parquet").exists()


def test_a_sha_mismatch_names_the_file_even_when_the_file_parses(tmp_path):
    pairs = [random_face(np.random.default_rng(8), 0)]
    url = str(tmp_path / "shard-00003.parquet")
    info = write_shard(url, pairs)
    write_shard(url, [random_face(np.random.default_rng(9), 0)])  # a valid shard, but not the one recorded
    with pytest.raises(DataIntegrityError, match=r"shard-00003\.parquet.*sha256"):
        read_shard(url, info)
    assert verify_after_manifest(tmp_path, info) == ["shard-00003.parquet"]


def verify_after_manifest(root, info: ShardInfo) -> list[str]:
    Manifest(parameters={}, shards={info.name: info}).save(str(root))
    return verify(str(root))


def make_faces(views: int, count: int = 3, size: int = 64, seed: int = 0) -> list[Face]:
    """`count` real faces of `views` views with every label, depth included (what `generate` writes)."""
    from frontside.synthesis.generate import extra_views_rng, face_rng, make_renderer, make_source
    from frontside.synthesis.pairs import make_face

    source, renderer = make_source("builtin"), make_renderer("raster")
    return [make_face(source, renderer, None, face_rng(seed, i), face_id=f"builtin-{i:06d}", face_index=i,
                      seed=seed, size=size, views=views, views_rng=extra_views_rng(seed, i)) for i in range(count)]


@pytest.fixture(scope="module")
def labelled(builtin_model):
    """{N: three real 64 x 64 faces of N views}, made once."""
    return {views: make_faces(views) for views in (2, 3, 5)}


@pytest.fixture(scope="module")
def labelled_pairs(labelled):
    return labelled[2]


def assert_same_views(a: Face, b: Face, n: int | None = None, face_pixels_only: bool = False) -> None:
    """The first `n` views of a and b (all when None) hold the same pixels (the face's only, where a part label
    says face, with `face_pixels_only`), poses and labels (depth to float16)."""
    n = len(a.views) if n is None else n
    assert len(a.views) >= n and len(b.views) >= n
    for x, y in zip(a.views[:n], b.views[:n]):
        assert x.kind == y.kind and (x.yaw, x.pitch, x.roll) == pytest.approx((y.yaw, y.pitch, y.roll), abs=1e-4)
        if face_pixels_only:
            from scipy.ndimage import binary_erosion

            face = binary_erosion(x.labels.segmentation > 0, iterations=2)  # the silhouette's edge blends in
            assert face.mean() > 0.05
            np.testing.assert_array_equal(x.image[face], y.image[face])
        else:
            np.testing.assert_array_equal(x.image, y.image)
        p, q = x.labels, y.labels
        np.testing.assert_array_equal(p.segmentation, q.segmentation)
        np.testing.assert_array_equal(p.visible, q.visible)
        np.testing.assert_array_equal(p.landmarks, q.landmarks)
        np.testing.assert_array_equal(np.isnan(p.depth), np.isnan(q.depth))
        np.testing.assert_allclose(q.depth, p.depth, rtol=1e-3, atol=0.07)
        for name in ("world_to_eye", "eye_to_clip", "clip_to_image", "crop"):
            np.testing.assert_array_equal(getattr(p.camera, name), getattr(q.camera, name))
        np.testing.assert_allclose(q.lighting.towards, p.lighting.towards, rtol=1e-6)
        assert q.lighting.ambient == pytest.approx(p.lighting.ambient, rel=1e-6)


@pytest.mark.parametrize("views", [2, 3, 5])
def test_faces_of_n_views_round_trip(tmp_path, labelled, views):
    faces = labelled[views]
    url = str(tmp_path / "shard-00000.parquet")
    info = write_shard(url, faces)
    table = read_shard(url, info)
    assert shard_size(table) == 64 and table.schema.metadata[b"frontside.format"] == b"3"
    assert table.schema.metadata[b"posmap_shape"] == b"64,64,3"
    for i, face in enumerate(faces):
        back = decode_row(table, i)
        assert back.meta == face.meta and len(back.views) == views
        assert_same_views(face, back)
        np.testing.assert_allclose(back.posmap, face.posmap, rtol=1e-3, atol=0.07)
        np.testing.assert_array_equal(back.mask, face.mask)
        np.testing.assert_array_equal(back.landmarks, face.landmarks)
        assert back.size == 64 and back.mask.shape == (64, 64)
        np.testing.assert_array_equal(back.skin_tone, face.skin_tone)
        # the true coefficients, exactly as drawn: they give the face's mesh
        np.testing.assert_array_equal(back.coefficients.identity, face.coefficients.identity)
        np.testing.assert_array_equal(back.coefficients.expression, face.coefficients.expression)
        assert back.coefficients.identity.dtype == np.float32 and back.coefficients.identity.shape == (24,)
        # two-view readers decode the front and the first side view only
        assert len(decode_row(table, i, n_views=2).views) == 2
        assert (back.front is back.views[0].image) and (back.side_view is back.views[1].labels)
    # readers that want only what training needs leave the labels on disk
    slim = read_shard(url, info, columns=TRAINING_COLUMNS)
    first = decode_row(slim, 0)
    assert first.front_view is None and first.coefficients is None and first.posmap.shape == (64, 64, 3)
    assert [v.kind for v in first.views] == [v.kind for v in faces[0].views]


def test_coefficients_recorded_are_the_ones_the_face_was_drawn_with(builtin_model, labelled):
    """Recovering the face's mesh from the recorded coefficients gives the mesh that was rendered: its landmarks
    re-project onto the recorded ones through the recorded camera."""
    from frontside.geometry.transforms import project

    for face in labelled[3]:
        mesh = builtin_model.vertices(face.coefficients)
        for view in face.views:
            xy = project(mesh[builtin_model.landmarks], view.labels.camera.world_to_vcs)[:, :2]
            np.testing.assert_allclose(xy, view.labels.landmarks[:, :2], atol=2e-3)


def test_a_shard_may_hold_faces_of_different_view_counts_and_faces_without_coefficients(tmp_path, labelled):
    from dataclasses import replace

    faces = [labelled[2][0], replace(labelled[5][1], coefficients=None), labelled[3][2]]
    url = str(tmp_path / "mixed.parquet")
    table = read_shard(url, write_shard(url, faces))
    for i, face in enumerate(faces):
        back = decode_row(table, i)
        assert_same_views(face, back)
        assert len(back.views) == len(face.views)
        assert (back.coefficients is None) == (face.coefficients is None)


def test_a_face_is_a_front_view_then_side_views(labelled):
    from dataclasses import replace

    face = labelled[3][0]
    for views in (face.views[:1], face.views[1:], (face.views[0], replace(face.views[1], kind="top"))):
        with pytest.raises(ValueError, match="front view first, then at least one side view"):
            replace(face, views=views)


def test_float16_arrays_are_byte_stream_split_and_shards_written_without_it_still_read(tmp_path, labelled):
    import pyarrow.parquet as pq

    from frontside.store.shards import WRITER_OPTIONS, faces_to_table

    faces = labelled[3]
    url = str(tmp_path / "shard-00000.parquet")
    write_shard(url, faces)
    group = pq.ParquetFile(url).metadata.row_group(0)
    encodings = {group.column(c).path_in_schema.split(".")[0]: group.column(c).encodings
                 for c in range(group.num_columns)}
    for name in ("posmap", "front_depth", "side_depth"):  # side_depth: a list of the side views' maps
        assert "BYTE_STREAM_SPLIT" in encodings[name], name
    assert "BYTE_STREAM_SPLIT" not in encodings["landmarks"]
    # shards written before (float16 stored plain) hold the same rows
    pq.write_table(faces_to_table(faces), tmp_path / "plain.parquet", **WRITER_OPTIONS)
    new, old = read_shard(url), read_shard(str(tmp_path / "plain.parquet"))
    for i in range(len(faces)):
        a, b = decode_row(new, i), decode_row(old, i)
        np.testing.assert_array_equal(a.posmap, b.posmap)
        for x, y in zip(a.views, b.views):
            np.testing.assert_array_equal(x.labels.depth, y.labels.depth)
        np.testing.assert_array_equal(a.mask, b.mask)


def test_rows_of_one_shard_must_share_size_and_columns(tmp_path, labelled_pairs):
    from dataclasses import replace

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="builtin-000000 has .size, labels, depth. = .64, True, True.*one schema"):
        write_shard(str(tmp_path / "a.parquet"), [random_face(rng, 0, size=64), labelled_pairs[0]])
    small = random_face(rng, 1)
    with pytest.raises(ValueError, match="t-000001.*must all be 256 x 256"):
        write_shard(str(tmp_path / "c.parquet"), [cut(small, views=(replace(small.views[0], image=small.front[:96]),
                                                                    small.views[1]))])
    bare = labelled_pairs[1]
    with pytest.raises(ValueError, match="one schema"):
        write_shard(str(tmp_path / "b.parquet"), [labelled_pairs[0], cut(bare, views=tuple(
            replace(view, labels=None) for view in bare.views))])
    with pytest.raises(ValueError, match="some views have labels and some not"):
        write_shard(str(tmp_path / "d.parquet"), [cut(bare, views=(bare.views[0], replace(bare.views[1],
                                                                                            labels=None)))])
    assert list(tmp_path.iterdir()) == []


def test_format_1_shards_still_decode(tmp_path):
    """Datasets written before the labels: binary PNG and posmap columns, 256 only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from frontside.pictures import encode_png

    face = random_face(np.random.default_rng(3), 0)
    front, side = face.views
    columns = {**{k: [v] for k, v in face.meta.as_dict().items()},
               "front_yaw": [front.yaw], "front_pitch": [front.pitch], "front_roll": [front.roll],
               "side_yaw": [side.yaw], "side_pitch": [side.pitch], "side_roll": [side.roll], "side": [side.kind],
               "front_png": [encode_png(face.front)], "side_png": [encode_png(face.side)],
               "posmap": [face.posmap.astype("<f2").tobytes()], "mask_png": [encode_png(face.mask)],
               "landmarks": [face.landmarks.astype("<f4").tobytes()]}
    table = pa.table(columns).replace_schema_metadata({"frontside.format": "1", "posmap_shape": "256,256,3"})
    pq.write_table(table, tmp_path / "old.parquet")
    back = decode_row(read_shard(str(tmp_path / "old.parquet")), 0)
    np.testing.assert_array_equal(back.front, face.front)
    np.testing.assert_array_equal(back.side, face.side)
    np.testing.assert_allclose(back.posmap, face.posmap, rtol=1e-3, atol=0.13)
    assert back.front_view is None and back.meta == face.meta and back.coefficients is None
    assert [(v.kind, v.yaw, v.roll) for v in back.views] == [(v.kind, v.yaw, v.roll) for v in face.views]


FORMAT_2 = Path(__file__).parent / "fixtures" / "format2"


def test_format_2_shards_still_decode_as_the_same_two_views(tmp_path, builtin_model):
    """tests/fixtures/format2: a format-2 dataset written by the previous release (1be4ff8: `make_dataset` of
    `GenerateSource(GenerateParams(n_faces=2, shard_size=2, seed=5, size=64))`). Its rows decode as two-view faces,
    and they are the faces this version generates with the same parameters: the same face pixels and labels (the
    built-in backgrounds changed since: issue 22 took the real faces out of them)."""
    from frontside.store.manifest import list_shards

    [(url, info)] = list_shards(str(FORMAT_2))
    old = read_shard(url, info)
    assert old.schema.metadata[b"frontside.format"] == b"2"
    new = make_faces(2, count=2, seed=5)
    for i, face in enumerate(new):
        back = decode_row(old, i)
        assert back.meta == face.meta and len(back.views) == 2 and back.coefficients is None
        assert_same_views(face, back, face_pixels_only=True)
        np.testing.assert_array_equal(back.posmap, decode_row(read_shard(*_written(tmp_path, new)), i).posmap)
        np.testing.assert_array_equal(back.skin_tone, face.skin_tone)


def _written(folder: Path, faces: list[Face]) -> tuple[str, object]:
    url = str(folder / "new.parquet")
    return url, write_shard(url, faces)


def test_hugging_face_datasets_decodes_images_as_images_and_arrays_as_arrays(tmp_path, labelled, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    faces = labelled[3]
    write_shard(str(tmp_path / "data" / "shard-00000.parquet"), faces[:2])
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "data" / "shard-*.parquet"), split="train",
                               cache_dir=str(tmp_path / "cache"))
    assert isinstance(ds.features["front_png"], datasets.Image)
    assert isinstance(ds.features["side_png"].feature, datasets.Image)  # Sequence(Image()): one per side view
    row = ds[1]
    np.testing.assert_array_equal(np.asarray(row["front_png"]), faces[1].front)
    assert len(row["side_png"]) == 2
    for image, segmentation, view in zip(row["side_png"], row["side_segmentation"], faces[1].sides):
        np.testing.assert_array_equal(np.asarray(image), view.image)
        np.testing.assert_array_equal(np.asarray(segmentation), view.labels.segmentation)
    np.testing.assert_array_equal(np.asarray(row["front_segmentation"]), faces[1].front_view.segmentation)
    assert row["face_id"] == "builtin-000001" and row["side"] == [view.kind for view in faces[1].sides]
    assert [c["crop"] for c in row["side_camera"]] == [v.labels.camera.crop.tolist() for v in faces[1].sides]
    arrays = ds.with_format("numpy")[1]
    assert arrays["posmap"].shape == (64, 64, 3)  # as float32: datasets widens float16 for numpy
    np.testing.assert_allclose(arrays["posmap"].astype(np.float32), faces[1].posmap, rtol=1e-3, atol=0.07)
    assert np.stack(arrays["side_depth"]).shape == (2, 64, 64) and arrays["front_visible"].dtype == bool
    assert np.asarray(arrays["front_camera"]["crop"]).shape == (3, 3)
    np.testing.assert_array_equal(arrays["identity"], faces[1].coefficients.identity)


OLD_RELEASE = "1be4ff8"  # the last release that wrote format 2 (the package's layout then: frontside.datasets)
OLD_READERS = """
import sys
from frontside.errors import one_line
from frontside.datasets.torch_dataset import ShardDataset   # what `frontside train` reads shards with
from frontside.evaluation.evaluate import load_pairs        # what `frontside evaluate --data` reads them with

for name, read in (("train", lambda: ShardDataset(sys.argv[1])[0]), ("evaluate", lambda: load_pairs([sys.argv[1]]))):
    try:
        read()
        print(name, "read it")
    except Exception as exc:
        print(name, type(exc).__name__, one_line(exc))
"""


@pytest.fixture(scope="module")
def old_release(tmp_path_factory) -> Path:
    """The package of `OLD_RELEASE`, from git (a clone without that commit skips the tests that need it)."""
    import io
    import subprocess
    import tarfile

    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", OLD_RELEASE, "frontside"],
                             capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"git archive {OLD_RELEASE}: {archive.stderr.decode().strip()} (a clone without its history)")
    target = tmp_path_factory.mktemp("old-release")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.mark.slow
def test_the_previous_release_refuses_format_3_in_one_line(old_release, tmp_path, builtin_model):
    """Its readers (`info`, the training loader, evaluation's) read only columns format 3 keeps (the side
    columns became lists under the same names), so each reaches its format check: one line naming the shard and
    the format, exit 1 from the command line, no traceback."""
    import os
    import subprocess
    import sys

    from conftest import synthetic_dataset

    root = synthetic_dataset(str(tmp_path / "three"), 2, 2, seed=1, size=64, views=3)
    env = {**os.environ, "PYTHONPATH": str(old_release)}
    refusal = f"{root}/shard-00000.parquet: frontside.format 3 is not one this version reads (1, 2): update frontside"
    info = subprocess.run([sys.executable, "-m", "frontside.cli", "info", root], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert info.returncode == 1 and f"  INVALID {refusal}" in info.stdout.splitlines(), (info.stdout, info.stderr)
    assert "Traceback" not in info.stdout + info.stderr
    readers = subprocess.run([sys.executable, "-c", OLD_READERS, root], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=300)
    assert readers.stdout.splitlines() == [f"train DataIntegrityError {refusal}",
                                           f"evaluate DataIntegrityError {refusal}"], (readers.stdout, readers.stderr)
