import numpy as np
import pytest
import scipy.io

from frontside.errors import InputFormatError
from frontside.facemodel import Region, load_model
from frontside.facemodel.bfm import load_bfm, save_bfm
from frontside.facemodel.builtin import build_builtin, cache_path, load_builtin
from frontside.facemodel.regions import uv_region_map
from frontside.geometry.posmap import uv_to_pixels
from frontside.geometry.raster import rasterize


def test_builtin_sizes(builtin_model):
    m = builtin_model
    assert m.triangles.shape[0] >= 20_000
    assert m.n_identity >= 20 and m.n_expression >= 5
    assert m.uv.min() >= 0 and m.uv.max() <= 1
    assert m.landmarks.shape == (68,)
    assert set(np.unique(m.regions)) == {int(r) for r in Region}


def test_builtin_uv_has_no_folds_or_overlaps(builtin_model):
    m = builtin_model
    px = uv_to_pixels(m.uv, 1024)
    a, b, c = (px[m.triangles[:, k]] for k in range(3))
    signed = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    assert (signed > 0).all() or (signed < 0).all()  # one orientation: no fold
    # no overlap: the covered area equals the sum of the triangle areas
    index, _ = rasterize(px, np.zeros(len(px)), m.triangles, 1024, 1024)
    assert abs((index >= 0).sum() - np.abs(signed).sum() / 2) / ((index >= 0).sum()) < 0.01


def test_builtin_landmarks_sit_on_their_features(builtin_model):
    m = builtin_model
    lm = m.mean[m.landmarks]
    assert abs(lm[30, 0]) < 2 and lm[30, 2] >= np.percentile(m.mean[:, 2], 99)  # nose tip: forward, midline
    right_eye, left_eye = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    assert right_eye[0] < -15 and left_eye[0] > 15  # subject's right eye is on the viewer's left
    assert right_eye[1] > lm[30, 1] and lm[48:68, 1].max() < lm[33, 1]  # eyes above nose, mouth below
    assert lm[8, 1] < lm[57, 1]  # chin below the lower lip
    jaw_x = lm[0:17, 0]
    assert (np.diff(jaw_x) > 0).all()  # jaw contour runs from the subject's right to left


def test_components_move_what_they_claim(builtin_model):
    m = builtin_model
    tip = m.landmarks[30]
    nose_length = m.id_basis[:, 0].reshape(-1, 3)
    assert nose_length[tip, 2] > 0.5 * np.abs(nose_length[:, 2]).max()
    face_width = m.id_basis[:, 5].reshape(-1, 3)
    assert face_width[m.landmarks[16], 0] > 0 > face_width[m.landmarks[0], 0]
    mouth_open = m.exp_basis[:, 0].reshape(-1, 3)
    assert mouth_open[m.landmarks[57], 1] < 0 and abs(mouth_open[m.landmarks[19], 1]) < 1e-3


def test_sampling_is_deterministic(builtin_model):
    a = builtin_model.face(np.random.default_rng(5), "a")
    b = builtin_model.face(np.random.default_rng(5), "b")
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.colours, b.colours)


def test_builtin_cache_round_trip_and_corrupt_cache(tmp_path):
    first = load_builtin(tmp_path)
    path = cache_path(tmp_path)
    assert path.exists()
    np.testing.assert_array_equal(load_builtin(tmp_path).mean, first.mean)
    path.write_bytes(b"not an npz")
    np.testing.assert_array_equal(load_builtin(tmp_path).mean, build_builtin().mean)


def _small_model(builtin_model, n_id=3, n_exp=2):
    """A small model in BFM's shape conventions (arbitrary N, K, E)."""
    from frontside.facemodel.model import MorphableModel

    m = builtin_model
    keep = np.arange(0, m.n_vertices)
    return MorphableModel(mean=m.mean[keep], id_basis=m.id_basis[:, :n_id], id_std=m.id_std[:n_id],
                          exp_basis=m.exp_basis[:, :n_exp], exp_std=m.exp_std[:n_exp], triangles=m.triangles,
                          uv=m.uv, landmarks=m.landmarks, regions=m.regions, name="small")


def test_bfm_round_trip_in_face3d_layout(tmp_path, builtin_model):
    model = _small_model(builtin_model)
    save_bfm(model, tmp_path / "BFM.mat", tmp_path / "BFM_UV.mat")
    raw = scipy.io.loadmat(tmp_path / "BFM.mat")["model"][0, 0]
    assert raw["tri"].shape == (3, model.triangles.shape[0]) and raw["tri"].min() == 1  # 1-based, (3, T)
    loaded = load_model(f"bfm:{tmp_path / 'BFM.mat'}")  # UV found beside it
    np.testing.assert_allclose(loaded.mean, model.mean)
    np.testing.assert_array_equal(loaded.triangles, model.triangles)
    np.testing.assert_array_equal(loaded.landmarks, model.landmarks)
    assert loaded.id_basis.shape == (3 * model.n_vertices, 3) and loaded.exp_basis.shape[1] == 2
    coeffs = loaded.sample(np.random.default_rng(0))
    assert loaded.vertices(coeffs).shape == model.mean.shape


def test_bfm_accepts_tri_as_t_by_3_and_top_level_keys(tmp_path, builtin_model):
    model = _small_model(builtin_model)
    n3 = 3 * model.n_vertices
    scipy.io.savemat(tmp_path / "flat.mat", {
        "shapeMU": model.mean.reshape(-1, 1), "shapePC": model.id_basis, "shapeEV": model.id_std.reshape(-1, 1),
        "expMU": np.zeros((n3, 1)), "expPC": model.exp_basis, "expEV": model.exp_std.reshape(-1, 1),
        "tri": model.triangles + 1, "kpt_ind": model.landmarks + 1})
    scipy.io.savemat(tmp_path / "uv.mat", {"UV": model.uv})
    loaded = load_bfm(tmp_path / "flat.mat", tmp_path / "uv.mat")
    np.testing.assert_array_equal(loaded.triangles, model.triangles)


@pytest.mark.parametrize("key,value,message", [
    ("shapePC", np.zeros((9, 3)), "shapePC"),
    ("kpt_ind", np.arange(1, 10), "kpt_ind"),
    (None, None, "expEV"),
])
def test_bfm_errors_name_the_file_and_key(tmp_path, builtin_model, key, value, message):
    model = _small_model(builtin_model)
    save_bfm(model, tmp_path / "BFM.mat", tmp_path / "BFM_UV.mat")
    struct = {k: v for k, v in zip(scipy.io.loadmat(tmp_path / "BFM.mat")["model"][0, 0].dtype.names,
                                   scipy.io.loadmat(tmp_path / "BFM.mat")["model"][0, 0])}
    if key is None:
        del struct["expEV"]
    else:
        struct[key] = value
    scipy.io.savemat(tmp_path / "bad.mat", {"model": struct})
    with pytest.raises(InputFormatError) as err:
        load_bfm(tmp_path / "bad.mat", tmp_path / "BFM_UV.mat")
    assert "bad.mat" in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("key,value,problem", [
    *[(key, -1e39, "float32") for key in ("shapeMU", "shapePC", "shapeEV", "expMU", "expPC", "expEV")],
    ("texPC", -1e41, "float32"), ("texEV", 1e41, "float32"),  # texture values are stored x 255
    ("texMU", np.nan, "NaN"),
])
def test_bfm_values_beyond_float32_are_refused_naming_the_file_and_its_key(tmp_path, builtin_model, key, value,
                                                                           problem):
    """A finite float64 that float32 cannot hold (1e39) would become inf in the model: refused at load, naming
    the file and the file's own key (not the model's field), without numpy's overflow warning."""
    import warnings

    model = _small_model(builtin_model)
    save_bfm(model, tmp_path / "BFM.mat", tmp_path / "BFM_UV.mat")
    raw = scipy.io.loadmat(tmp_path / "BFM.mat")["model"][0, 0]
    struct = {name: raw[name] for name in raw.dtype.names}
    struct[key] = struct[key].copy()
    struct[key].flat[-1] = value
    scipy.io.savemat(tmp_path / "big.mat", {"model": struct})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" would be an error here
        with pytest.raises(InputFormatError) as err:
            load_bfm(tmp_path / "big.mat", tmp_path / "BFM_UV.mat")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'big.mat'}: {key}: ") and problem in message, message


def test_uv_region_map(builtin_model):
    m = builtin_model
    regions = uv_region_map(m.uv, m.triangles, m.regions, landmarks=m.landmarks)
    assert regions.shape == (256, 256)
    assert (regions != 255).mean() > 0.95
    assert {int(r) for r in Region} <= set(np.unique(regions))
    assert (regions == Region.LANDMARK).sum() >= 68 * 5


def test_the_builtin_components_are_named_as_they_move():
    """Reports name the components (R² per component): each name must say what its component does. Checked on
    the ones whose shape is simplest to state: head depth scales z only, face width x only, face height y only."""
    from frontside.facemodel import load_model

    model = load_model("builtin")
    identity, expression = model.component_names()
    assert len(identity) == model.n_identity and len(expression) == model.n_expression
    basis = model.id_basis.reshape(model.n_vertices, 3, model.n_identity)
    for name, axis in (("head depth", 2), ("face width", 0), ("face height", 1)):
        moved = np.abs(basis[:, :, identity.index(name)]).sum(axis=0)
        assert moved[axis] > 0 and moved.sum() == moved[axis], name
    head = basis[:, 2, identity.index("head depth")]
    assert np.corrcoef(head, model.mean[:, 2] - 0)[0, 1] > 0.99  # proportional to depth (z - 20 mm)
