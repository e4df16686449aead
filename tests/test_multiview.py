"""Format 3 as `generate --views N` writes it, read back through the N-view loader (`learning.data.MultiViewDataset`): view
count, front first, sides alternating, each view's camera taking the face onto its landmarks; format 2 still read;
the two-view networks' items unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from frontside.errors import DataIntegrityError
from frontside.learning.data import MultiViewDataset, ShardDataset, collate_views, make_loader, project_views
from frontside.store.manifest import list_shards
from frontside.store.shards import decode_row, read_shard, shard_format

FORMAT2 = str(Path(__file__).parent / "fixtures" / "format2")


def generate(out: Path, views: int, faces: int = 4) -> str:
    """What `frontside generate --faces F --shard-size 2 --size 64 --seed 5 --views N --out OUT` writes: its flags
    parsed by the command's parser into the dataset parameters, made by the driver in this process (the flow runs
    the same driver under Prefect)."""
    from frontside.cli import build_parser
    from frontside.configs import from_flags
    from frontside.store.driver import make_dataset
    from frontside.synthesis.config import GenerateConfig
    from frontside.synthesis.generate import GenerateSource

    args = build_parser().parse_args(["generate", "--faces", str(faces), "--shard-size", "2", "--size", "64",
                                      "--seed", "5", "--views", str(views), "--out", str(out)])
    params = from_flags(GenerateConfig, args).params()
    assert params.views == views and params.size == 64
    make_dataset(GenerateSource(params), str(out))
    return str(out)


@pytest.fixture(scope="module")
def three(tmp_path_factory, builtin_model) -> str:
    return generate(tmp_path_factory.mktemp("views3") / "ds", 3)


@pytest.fixture(scope="module")
def two(tmp_path_factory, builtin_model) -> str:
    return generate(tmp_path_factory.mktemp("views2") / "ds", 2)


def _faces(root: str):
    return [decode_row(table, i) for url, _ in list_shards(root) for table in [read_shard(url)]
            for i in range(table.num_rows)]


def test_rows_are_format_3_front_first_then_sides_on_alternating_sides(three, tmp_path):
    faces = _faces(three)
    assert len(faces) == 4 and all(shard_format(read_shard(url)) == "3" for url, _ in list_shards(three))
    for face in faces:
        assert [v.kind for v in face.views][0] == "front" and len(face.views) == 3
        assert abs(face.views[0].yaw) <= 45 and all(45 <= abs(v.yaw) <= 100 for v in face.sides)
        signs = [np.sign(v.yaw) for v in face.sides]
        assert signs[0] == -signs[1]  # front, one side, the other
        assert [v.kind for v in face.sides] == ["right" if s > 0 else "left" for s in signs]
    # four views alternate: s, -s, s; and the same flags give the same bytes
    a, b = generate(tmp_path / "a", 4, faces=2), generate(tmp_path / "b", 4, faces=2)
    for face in _faces(a):
        signs = [np.sign(v.yaw) for v in face.sides]
        assert signs == [signs[0], -signs[0], signs[0]]
    shards = lambda root: {p.name: p.read_bytes() for p in Path(root).glob("shard-*.parquet")}  # noqa: E731
    assert shards(a) == shards(b) and len(shards(a)) == 1


def test_an_item_is_every_view_front_first_with_cameras_landmarks_and_coefficients(three, builtin_model):
    data = MultiViewDataset(ShardDataset(three, labels=True, input_size=32))
    faces = _faces(three)
    for i, face in enumerate(faces):
        item = data[i]
        assert item["images"].shape == (3, 3, 32, 32) and item["images"].dtype == torch.float32
        assert 0 <= float(item["images"].min()) and float(item["images"].max()) <= 1
        assert item["side"].tolist() == [0] + [int(np.sign(v.yaw)) for v in face.sides]
        assert item["landmarks"].shape == (3, 68, 3) and item["visible"].shape == (3, 68)
        assert item["segmentation"].shape == (3, 32, 32) and item["poses"].shape == (3, 3)
        assert item["world_to_input"].shape == (3, 4, 4) and bool(item["has_camera"].all())
        assert bool(item["has_coefficients"])
        np.testing.assert_array_equal(item["identity"].numpy(), face.coefficients.identity)
        np.testing.assert_array_equal(item["expression"].numpy(), face.coefficients.expression)
        assert item["target"].shape == (3, 64, 64)
        # the face's landmarks (its mesh from the true coefficients) through each view's camera land on that
        # view's stored landmarks at the input size (the row's, times 32 / 64)
        mesh = torch.from_numpy(builtin_model.vertices(face.coefficients)[builtin_model.landmarks])
        xy = project_views(mesh[None], item["world_to_input"][None])[0]
        torch.testing.assert_close(xy.float(), item["landmarks"][..., :2], atol=1e-3, rtol=0)
        for k, view in enumerate(face.views):
            np.testing.assert_allclose(item["landmarks"][k].numpy() * 2, view.labels.landmarks, rtol=1e-6)
            np.testing.assert_array_equal(item["visible"][k].numpy(), view.labels.visible)
    # a shuffled batch; keys carry the epoch
    batch = next(iter(make_loader(data, batch_size=4, shuffle=True, seed=1)))
    assert batch["images"].shape == (4, 3, 3, 32, 32) and batch["world_to_input"].shape == (4, 3, 4, 4)
    assert batch["identity"].shape == (4, len(faces[0].coefficients.identity)) and batch["target"].shape[0] == 4
    # n_views keeps the first views; more views than a face has is an error naming its shard
    first_two = MultiViewDataset(ShardDataset(three, labels=True, input_size=32), n_views=2)[1]
    assert all(torch.equal(first_two[k], data[1][k][:2]) for k in ("images", "side", "landmarks", "crop"))
    with pytest.raises(DataIntegrityError, match=r"shard-00000\.parquet: row 0 has 3 views, fewer than n_views=4"):
        MultiViewDataset(ShardDataset(three, labels=True), n_views=4)[0]
    with pytest.raises(ValueError, match="labels=True"):
        MultiViewDataset(ShardDataset(three))


def test_format_2_reads_as_two_views_and_mixed_view_counts_need_n_views(three):
    old = MultiViewDataset(ShardDataset(FORMAT2, labels=True, input_size=32))
    batch = next(iter(make_loader(old, batch_size=2)))
    assert batch["images"].shape == (2, 2, 3, 32, 32) and batch["side"][:, 0].tolist() == [0, 0]
    assert not batch["has_coefficients"].any() and batch["identity"].shape == (2, 0)
    assert bool(batch["has_camera"].all()) and torch.isfinite(batch["world_to_input"]).all()
    new = MultiViewDataset(ShardDataset(three, labels=True, input_size=32))
    with pytest.raises(ValueError, match=r"faces of \[2, 3\] views in one batch: .*n_views=2"):
        collate_views([old[0], new[0]])
    mixed = collate_views([old[0], MultiViewDataset(new.faces, n_views=2)[0]])
    assert mixed["identity"].shape == (2, new[0]["identity"].shape[0]) and mixed["identity"][0].abs().sum() == 0
    assert mixed["has_coefficients"].tolist() == [False, True]


def test_two_view_networks_read_the_same_items_from_three_view_rows(three, two):
    """`twoview`, `frontonly` and `prn` read `ShardDataset` items: with N = 3 they are exactly those of the same
    faces generated with 2 views (the first two views do not depend on N), with and without labels read."""
    for views in ("both", "front"):
        for i in range(4):
            for labels in (False, True):
                x3, y3 = ShardDataset(three, views=views, input_size=32, labels=labels, target_stride=2)[i]
                x2, y2 = ShardDataset(two, views=views, input_size=32, target_stride=2)[i]
                assert torch.equal(x3, x2) and torch.equal(y3, y2)
                assert x3.shape == ((6 if views == "both" else 3), 32, 32)


def test_streamed_shards_give_the_same_views(three, tmp_path):
    """`streaming.StreamedShards` (one shard at a time, read through its fetcher) reads the views' labels too."""
    from frontside.learning.streaming import ShardFetcher, StreamedShards

    streamed = MultiViewDataset(StreamedShards(three, input_size=32, labels=True,
                                               fetcher=ShardFetcher(str(tmp_path / "cache"))))
    memory = MultiViewDataset(ShardDataset(three, labels=True, input_size=32))
    for i in (3, 0):
        a, b = streamed[i], memory[i]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
