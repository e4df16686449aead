import numpy as np
import pytest

from frontside.errors import DataIntegrityError
from frontside.store.manifest import Manifest, ShardInfo, verify
from frontside.store.records import Pair, PairMeta
from frontside.store.shards import TRAINING_COLUMNS, decode_row, read_shard, shard_size, write_shard


def random_pair(rng: np.random.Generator, i: int) -> Pair:
    meta = PairMeta(face_id=f"t-{i:06d}", seed=1, face_index=i, source="builtin", renderer="pyrender",
                    model="builtin-v1", front_yaw=float(rng.uniform(-45, 45)), front_pitch=1.0, front_roll=2.0,
                    side_yaw=70.0, side_pitch=-1.0, side_roll=0.5, side="right")
    return Pair(front=rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
                side=rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
                posmap=rng.uniform(0, 256, (256, 256, 3)).astype(np.float32),
                mask=rng.random((256, 256)) > 0.3, landmarks=rng.uniform(0, 256, (68, 3)).astype(np.float32),
                meta=meta)


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pairs = [random_pair(rng, i) for i in range(3)]
    info = write_shard(str(tmp_path / "shard-00000.parquet"), pairs)
    assert info.rows == 3 and len(info.sha256) == 64
    table = read_shard(str(tmp_path / "shard-00000.parquet"), info)
    for i, pair in enumerate(pairs):
        back = decode_row(table, i)
        assert (back.meta.face_id, back.meta.face_index, back.meta.side) == (
            pair.meta.face_id, pair.meta.face_index, pair.meta.side)
        assert back.meta.front_yaw == pytest.approx(pair.meta.front_yaw, abs=1e-4)  # stored as float32
        np.testing.assert_array_equal(back.front, pair.front)
        np.testing.assert_array_equal(back.side, pair.side)
        np.testing.assert_array_equal(back.mask, pair.mask)
        np.testing.assert_array_equal(back.landmarks, pair.landmarks)
        np.testing.assert_allclose(back.posmap, pair.posmap, rtol=1e-3, atol=0.13)  # float16
    assert table.schema.metadata[b"posmap_dtype"] == b"<f2"


def test_same_pairs_same_bytes(tmp_path):
    pairs = [random_pair(np.random.default_rng(1), i) for i in range(2)]
    a = write_shard(str(tmp_path / "a.parquet"), pairs)
    b = write_shard(str(tmp_path / "b.parquet"), pairs)
    assert a.sha256 == b.sha256
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_truncated_or_mismatching_shard_is_a_clear_error(tmp_path):
    url = str(tmp_path / "shard-00001.parquet")
    info = write_shard(url, [random_pair(np.random.default_rng(2), 0)])
    data = (tmp_path / "shard-00001.parquet").read_bytes()
    (tmp_path / "shard-00001.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataIntegrityError, match="shard-00001.parquet"):
        read_shard(url, info)
    with pytest.raises(DataIntegrityError, match="shard-00001.parquet"):
        read_shard(url)  # no manifest to compare with: still not a readable Parquet file
    with pytest.raises(DataIntegrityError, match="missing"):
        read_shard(str(tmp_path / "nope.parquet"))


def test_manifest_round_trip_and_verify(tmp_path):
    info = write_shard(str(tmp_path / "shard-00000.parquet"), [random_pair(np.random.default_rng(3), 0)])
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
    bad = random_pair(np.random.default_rng(4), 0)
    bad = Pair(bad.front, bad.side, bad.posmap[:10], bad.mask, bad.landmarks, bad.meta)
    with pytest.raises(ValueError):
        write_shard(str(tmp_path / "shard-00000.parquet"), [bad])
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_no_temp_file_and_the_target_untouched(tmp_path):
    # a non-empty folder where the shard should go makes the final rename fail for real
    (tmp_path / "shard-00000.parquet").mkdir()
    (tmp_path / "shard-00000.parquet" / "keep").write_bytes(b"x")
    with pytest.raises(OSError):
        write_shard(str(tmp_path / "shard-00000.parquet"), [random_pair(np.random.default_rng(5), 0)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-00000.parquet"]
    assert [p.name for p in (tmp_path / "shard-00000.parquet").iterdir()] == ["keep"]


def test_a_failed_write_keeps_the_previous_shard(tmp_path):
    url = str(tmp_path / "shard-00000.parquet")
    good = write_shard(url, [random_pair(np.random.default_rng(6), 0)])
    bad = random_pair(np.random.default_rng(6), 1)
    with pytest.raises(ValueError):
        write_shard(url, [random_pair(np.random.default_rng(6), 0), Pair(bad.front, bad.side, bad.posmap[:5],
                                                                          bad.mask, bad.landmarks, bad.meta)])
    assert read_shard(url, good).num_rows == 1
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.parquet"]


def test_extra_metadata_is_stored_and_may_not_replace_the_format_keys(tmp_path):
    pairs = [random_pair(np.random.default_rng(7), 0)]
    a = write_shard(str(tmp_path / "a.parquet"), pairs, {"dataset": "unit", "n": 3})
    b = write_shard(str(tmp_path / "b.parquet"), pairs, {"n": 3, "dataset": "unit"})  # order does not matter
    assert a.sha256 == b.sha256
    assert a.sha256 != write_shard(str(tmp_path / "c.parquet"), pairs).sha256
    meta = read_shard(str(tmp_path / "a.parquet"), a).schema.metadata
    assert meta[b"dataset"] == b"unit" and meta[b"n"] == b"3" and meta[b"frontside.format"] == b"2"
    with pytest.raises(ValueError, match="posmap_dtype"):
        write_shard(str(tmp_path / "d.parquet"), pairs, {"posmap_dtype": "<f4"})
    assert not (tmp_path / "d.parquet").exists()


def test_a_sha_mismatch_names_the_file_even_when_the_file_parses(tmp_path):
    pairs = [random_pair(np.random.default_rng(8), 0)]
    url = str(tmp_path / "shard-00003.parquet")
    info = write_shard(url, pairs)
    write_shard(url, [random_pair(np.random.default_rng(9), 0)])  # a valid shard, but not the one recorded
    with pytest.raises(DataIntegrityError, match=r"shard-00003\.parquet.*sha256"):
        read_shard(url, info)
    assert verify_after_manifest(tmp_path, info) == ["shard-00003.parquet"]


def verify_after_manifest(root, info: ShardInfo) -> list[str]:
    Manifest(parameters={}, shards={info.name: info}).save(str(root))
    return verify(str(root))


@pytest.fixture(scope="module")
def labelled_pairs(builtin_model):
    """Three real 96 x 96 pairs with every label, depth included."""
    from frontside.renderers.raster_renderer import RasterRenderer
    from frontside.synthesis.pairs import ModelSource, make_pair

    source, renderer = ModelSource(builtin_model), RasterRenderer()
    return [make_pair(source, renderer, None, np.random.default_rng(i), face_id=f"builtin-{i:06d}", face_index=i,
                      seed=0, size=96) for i in range(3)]


def test_labelled_rows_of_any_size_round_trip(tmp_path, labelled_pairs):
    url = str(tmp_path / "shard-00000.parquet")
    info = write_shard(url, labelled_pairs)
    table = read_shard(url, info)
    assert shard_size(table) == 96 and table.schema.metadata[b"frontside.format"] == b"2"
    assert table.schema.metadata[b"posmap_shape"] == b"96,96,3"
    for i, pair in enumerate(labelled_pairs):
        back = decode_row(table, i)
        np.testing.assert_array_equal(back.front, pair.front)
        np.testing.assert_allclose(back.posmap, pair.posmap, rtol=1e-3, atol=0.07)
        assert back.size == 96 and back.mask.shape == (96, 96)
        for a, b in ((pair.front_view, back.front_view), (pair.side_view, back.side_view)):
            np.testing.assert_array_equal(a.segmentation, b.segmentation)
            np.testing.assert_array_equal(a.visible, b.visible)
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
            np.testing.assert_array_equal(np.isnan(a.depth), np.isnan(b.depth))
            np.testing.assert_allclose(b.depth, a.depth, rtol=1e-3, atol=0.07)
            for name in ("world_to_eye", "eye_to_clip", "clip_to_image", "crop"):
                np.testing.assert_array_equal(getattr(a.camera, name), getattr(b.camera, name))
            np.testing.assert_allclose(b.lighting.towards, a.lighting.towards, rtol=1e-6)
            assert b.lighting.ambient == pytest.approx(a.lighting.ambient, rel=1e-6)
        np.testing.assert_allclose(back.skin_tone, pair.skin_tone)
    # readers that want only what training needs leave the labels on disk
    slim = read_shard(url, info, columns=TRAINING_COLUMNS)
    assert decode_row(slim, 0).front_view is None and decode_row(slim, 0).posmap.shape == (96, 96, 3)


def test_float16_arrays_are_byte_stream_split_and_shards_written_without_it_still_read(tmp_path, labelled_pairs):
    import pyarrow.parquet as pq

    from frontside.store.shards import WRITER_OPTIONS, pairs_to_table

    url = str(tmp_path / "shard-00000.parquet")
    write_shard(url, labelled_pairs)
    group = pq.ParquetFile(url).metadata.row_group(0)
    encodings = {group.column(c).path_in_schema.split(".")[0]: group.column(c).encodings
                 for c in range(group.num_columns)}
    for name in ("posmap", "front_depth", "side_depth"):
        assert "BYTE_STREAM_SPLIT" in encodings[name], name
    assert "BYTE_STREAM_SPLIT" not in encodings["landmarks"]
    # shards written before (float16 stored plain) hold the same rows
    pq.write_table(pairs_to_table(labelled_pairs), tmp_path / "plain.parquet", **WRITER_OPTIONS)
    new, old = read_shard(url), read_shard(str(tmp_path / "plain.parquet"))
    for i in range(len(labelled_pairs)):
        a, b = decode_row(new, i), decode_row(old, i)
        np.testing.assert_array_equal(a.posmap, b.posmap)
        np.testing.assert_array_equal(a.front_view.depth, b.front_view.depth)
        np.testing.assert_array_equal(a.mask, b.mask)


def test_rows_of_one_shard_must_share_size_and_columns(tmp_path, labelled_pairs):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="builtin-000000 has .size, labels, depth. = .96, True, True.*one schema"):
        write_shard(str(tmp_path / "a.parquet"), [random_pair(rng, 0), labelled_pairs[0]])
    small = random_pair(rng, 1)
    with pytest.raises(ValueError, match="t-000001.*must all be 256 x 256"):
        write_shard(str(tmp_path / "c.parquet"), [Pair(small.front[:96], small.side, small.posmap, small.mask,
                                                       small.landmarks, small.meta)])
    with pytest.raises(ValueError, match="one schema"):
        bare = labelled_pairs[1]
        write_shard(str(tmp_path / "b.parquet"), [labelled_pairs[0], Pair(bare.front, bare.side, bare.posmap,
                                                                           bare.mask, bare.landmarks, bare.meta)])


def test_format_1_shards_still_decode(tmp_path):
    """Datasets written before the labels: binary PNG and posmap columns, 256 only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from frontside.pictures import encode_png

    pair = random_pair(np.random.default_rng(3), 0)
    columns = {**{k: [v] for k, v in pair.meta.as_dict().items()},
               "front_png": [encode_png(pair.front)], "side_png": [encode_png(pair.side)],
               "posmap": [pair.posmap.astype("<f2").tobytes()], "mask_png": [encode_png(pair.mask)],
               "landmarks": [pair.landmarks.astype("<f4").tobytes()]}
    table = pa.table(columns).replace_schema_metadata({"frontside.format": "1", "posmap_shape": "256,256,3"})
    pq.write_table(table, tmp_path / "old.parquet")
    back = decode_row(read_shard(str(tmp_path / "old.parquet")), 0)
    np.testing.assert_array_equal(back.front, pair.front)
    np.testing.assert_allclose(back.posmap, pair.posmap, rtol=1e-3, atol=0.13)
    assert back.front_view is None and back.meta == pair.meta


def test_hugging_face_datasets_decodes_images_as_images_and_arrays_as_arrays(tmp_path, labelled_pairs,
                                                                             monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    write_shard(str(tmp_path / "data" / "shard-00000.parquet"), labelled_pairs[:2])
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "data" / "shard-*.parquet"), split="train",
                               cache_dir=str(tmp_path / "cache"))
    assert isinstance(ds.features["front_png"], datasets.Image)
    assert isinstance(ds.features["side_segmentation"], datasets.Image)
    row = ds[1]
    np.testing.assert_array_equal(np.asarray(row["front_png"]), labelled_pairs[1].front)
    np.testing.assert_array_equal(np.asarray(row["front_segmentation"]), labelled_pairs[1].front_view.segmentation)
    assert row["face_id"] == "builtin-000001" and row["side"] == labelled_pairs[1].meta.side
    arrays = ds.with_format("numpy")[1]
    assert arrays["posmap"].shape == (96, 96, 3)  # as float32: datasets widens float16 for numpy
    np.testing.assert_allclose(arrays["posmap"].astype(np.float32), labelled_pairs[1].posmap, rtol=1e-3, atol=0.07)
    assert arrays["side_depth"].shape == (96, 96) and arrays["front_visible"].dtype == bool
    assert np.asarray(arrays["front_camera"]["crop"]).shape == (3, 3)
