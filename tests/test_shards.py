import numpy as np
import pytest

from frontside.datasets.records import Pair, PairMeta
from frontside.datasets.shards import Manifest, ShardInfo, decode_row, read_shard, verify, write_shard
from frontside.errors import DataIntegrityError


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
    assert meta[b"dataset"] == b"unit" and meta[b"n"] == b"3" and meta[b"frontside.format"] == b"1"
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
