"""Generation's plain functions: parameters, the UV region map at the dataset's size, the dataset card."""

import pytest

from frontside.synthesis.config import GenerateParams
from frontside.synthesis.generate import dataset_uv_regions


@pytest.mark.parametrize("size", [0, 32, 100, 250, True])
def test_size_must_be_a_multiple_of_32_of_at_least_64(size):
    with pytest.raises(ValueError, match="multiple of 32"):
        GenerateParams(n_faces=1, shard_size=1, size=size)


def test_unknown_renderer_is_refused():
    with pytest.raises(ValueError, match="raster, pyrender"):
        GenerateParams(n_faces=1, shard_size=1, renderer="blender")


def test_uv_regions_follow_the_size(builtin_model):
    small = dataset_uv_regions(GenerateParams(n_faces=1, shard_size=1, size=96))
    large = dataset_uv_regions(GenerateParams(n_faces=1, shard_size=1, size=288))
    assert small.shape == (96, 96) and large.shape == (288, 288)
    # the same layout at both sizes: each region covers about the same share of the map
    for label in (0, 1, 2, 3):
        assert abs((small == label).mean() - (large == label).mean()) < 0.02


def test_dataset_card_says_what_how_licence_and_columns(tiny_dataset):
    from frontside.store.card import write_dataset_card
    from frontside.store.manifest import Manifest

    url = write_dataset_card(tiny_dataset)
    card = open(url).read()
    manifest = Manifest.load(tiny_dataset)
    assert card.startswith("---\n") and 'data_files: "shard-*.parquet"' in card
    assert f"{manifest.rows} faces, 2 views each" in card and '"renderer": "raster"' in card
    assert "built-in face model is part of frontside" in card and "sample_grid.png" in card
    rows = [line for line in card.splitlines() if line.startswith("| ") and "|---" not in line][1:]
    names = [line.split("|")[1].strip() for line in rows]
    assert names[:3] == ["face_id", "seed", "face_index"] and "front_depth" in names and "side_camera" in names
    posmap_bytes = int(next(r for r in rows if r.startswith("| posmap")).split("|")[3].strip().replace(",", ""))
    assert 100_000 < posmap_bytes < 400_000  # (256, 256, 3) float16 after zstd
    types = {line.split("|")[1].strip(): line.split("|")[2].strip().strip("`") for line in rows}
    assert types["face_id"] == "string" and types["seed"] == "int64" and types["front_yaw"] == "float32"
    assert types["posmap"] == "float16 (256, 256, 3)" and types["landmarks"] == "float32 (68, 3)"
    assert types["front_visible"] == "bool (68,)" and types["front_depth"] == "float16 (256, 256)"
    assert types["front_png"] == "image (PNG)"
    assert types["front_camera"] == "struct{world_to_eye, eye_to_clip, clip_to_image, crop}"
    assert types["front_lighting"] == "struct{ambient, towards, intensities}"
