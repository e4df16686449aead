import numpy as np
import pytest
from PIL import Image

from frontside.errors import FrontsideError
from frontside.reconstruct import detect_face, reconstruct


def test_no_face_is_a_clear_error(tmp_path):
    blank = np.full((300, 300, 3), 90, np.uint8)
    with pytest.raises(FrontsideError, match="blank.png: no face found"):
        detect_face(blank, tmp_path / "blank.png", profile=True)


def test_two_photos_give_a_textured_obj(tiny_dataset, tmp_path):
    from frontside.datasets.shards import decode_row, list_shards, read_shard
    from frontside.geometry.mesh_io import read_obj
    from frontside.model.checkpoint import save_checkpoint
    from frontside.model.registry import build

    url, info = list_shards(tiny_dataset)[0]
    pair = decode_row(read_shard(url, info), 0)
    Image.fromarray(pair.front).save(tmp_path / "front.png")
    Image.fromarray(pair.side).save(tmp_path / "side.png")
    save_checkpoint(tmp_path / "best.pt", model=build("twoview"))
    with pytest.raises(FrontsideError, match="needs --side"):
        reconstruct(str(tmp_path / "front.png"), None, str(tmp_path / "best.pt"), str(tmp_path / "x.obj"),
                    detect=False)
    mask = np.zeros((256, 256), bool)
    mask[40:200, 50:210] = True
    obj = reconstruct(str(tmp_path / "front.png"), str(tmp_path / "side.png"), str(tmp_path / "best.pt"),
                      str(tmp_path / "face.obj"), detect=False, face_mask=mask)
    vertices, triangles, uv = read_obj(obj)
    assert len(vertices) == mask.sum() and uv is not None and len(triangles) > 0
    assert (tmp_path / "face.png").exists() and "map_Kd face.png" in (tmp_path / "face.mtl").read_text()
