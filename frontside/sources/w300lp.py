"""300W-LP: find its images, pose its BFM fits into the image frame, and pair front with side views.

Layout of a 300W-LP root (Zhu et al., "Face Alignment Across Large Poses", as PRN and face3d read it)::

    AFW/AFW_134212_1_0.jpg   AFW/AFW_134212_1_0.mat        (and HELEN, IBUG, LFPW)
    AFW_Flip/AFW_134212_1_0.jpg   AFW_Flip/AFW_134212_1_0.mat   (mirrored images, their own fits)
    landmarks/AFW/AFW_134212_1_0_pts.mat                    (pts_2d, pts_3d: (68, 2))

Each .mat holds `Pose_Para` (1, 7) = pitch, yaw, roll (radians), tx, ty, tz, scale; `Shape_Para` (199, 1) and
`Exp_Para` (29, 1), raw coefficients that face3d multiplies with shapePC / expPC directly (no EV scaling);
`pt2d` (2, 68) the 2D landmarks.

face3d (`MorphabelModel.generate_vertices`, `transform_3ddfa`, PRN's `generate_posmap_300WLP.py`) poses a fit as

    v = shapeMU + expMU + shapePC @ Shape_Para + expPC @ Exp_Para            (N, 3) rows x, y, z
    v' = s * R3 @ v + t,   R3 = angle2matrix_3ddfa(pitch, yaw, roll) = Rx(-pitch) @ Ry(-yaw) @ Rz(-roll)
    image x = v'x,  image y = H - 1 - v'y,  z = v'z (orthographic, larger = nearer)

with integer pixel centres. Here `R3 = rotation_matrix(yaw, pitch, roll, degrees=False).T` (our
`Rz @ Ry @ Rx` transposed), and pixel centres move to +0.5: x = v'x + 0.5, y = H - 0.5 - v'y.
Our `Pose` is read back from R3, so for a pure rotation 300W-LP's +yaw (nose to the viewer's left) is our
-yaw, its +pitch (nose up) our -pitch, its +roll (clockwise on screen) our -roll.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from frontside.errors import InputFormatError
from frontside.facemodel.model import Coefficients, FaceMesh, MorphableModel
from frontside.renderers.view import Pose, RenderedView
from frontside.store.records import Face, FaceMeta, View, side_of

SUBSETS = ("AFW", "HELEN", "IBUG", "LFPW")
FRONT_MAX_YAW = 45.0  # |yaw| <= 45 deg is a front view (thesis 4.2.1)
SIDE_MAX_YAW = 100.0  # 45 < |yaw| <= 100 deg is a side view
RENDERER = "300wlp"
SOURCE = "300wlp"

# Why counted apart: a missing fit is a gap in the download, a broken one a corrupt file, a mismatched one a fit
# made for another face model (when every fit mismatches, the model given is the wrong one: see `model_mismatch`).
PROBLEM_NO_MAT = "no_mat"
PROBLEM_BROKEN_MAT = "broken_mat"
PROBLEM_MODEL_MISMATCH = "model_mismatch"
PROBLEMS = (PROBLEM_NO_MAT, PROBLEM_BROKEN_MAT, PROBLEM_MODEL_MISMATCH)

_POSE_INDEX = re.compile(r"^(?P<group>.+)_(?P<k>\d+)$")


@dataclass(frozen=True)
class W300LPItem:
    """One 300W-LP image and what we know about it after a scan.

    subset:  folder name, e.g. "AFW" or "AFW_Flip".
    name:    file stem, e.g. "AFW_134212_1_0" (the last number is the pose-rotation index k).
    group:   identity key "<subset>/<name without _k>"; a _Flip twin is its own group (its yaw is mirrored).
    yaw:     300W-LP's own yaw in degrees with our sign (-Pose_Para[1]: + turns the nose to the viewer's right),
             or None when the fit could not be read. Pairing uses this, not the yaw of our Euler decomposition,
             because near 90 deg that decomposition trades yaw for pitch and roll (a 105 deg turn reads as
             yaw 75, pitch 180, roll 180) while the thesis' ranges are in 300W-LP's angles.
    problem: None, or one of PROBLEMS; detail: why, in words (the error naming the file and field).
    counts:  (shape, expression) coefficient counts of a readable fit, else None.
    """

    subset: str
    name: str
    image_path: Path
    mat_path: Path | None
    landmarks_path: Path | None
    group: str
    flipped: bool
    yaw: float | None = None
    problem: str | None = None
    detail: str | None = None
    counts: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        """Stable name of the image inside the dataset: "<subset>/<name>"."""
        return f"{self.subset}/{self.name}"


@dataclass(frozen=True)
class W300LPFit:
    """The fitted parameters of one image, as stored in its .mat.

    pitch, yaw, roll: radians (300W-LP's own signs); translation (3,) float64; scale: float.
    shape: (K,) float32; expression: (E,) float32; pt2d: (68, 2) float32 or None.
    """

    pitch: float
    yaw: float
    roll: float
    translation: np.ndarray
    scale: float
    shape: np.ndarray
    expression: np.ndarray
    pt2d: np.ndarray | None


def identity_group(subset: str, name: str) -> str:
    """Identity key, e.g. ("AFW", "AFW_134212_1_0") -> "AFW/AFW_134212_1": one photo of one person, all k."""
    match = _POSE_INDEX.match(name)
    stem = match.group("group") if match else name
    return f"{subset}/{stem}"


def scan_300wlp(root: str | Path, model: MorphableModel | None = None, read_pose: bool = True) -> list[W300LPItem]:
    """Every image under the four subsets and their _Flip twins, sorted by (subset, name).

    read_pose: read each .mat to fill `yaw` (needed for pairing); an unreadable fit, or one whose fields do
    not match `model`'s basis sizes, sets `problem` and `detail` instead of raising, so the converter can skip
    and name it. Only files count as images (a folder named x.jpg does not).
    Raises InputFormatError when `root` holds none of the expected subset folders.
    """
    root = Path(root)
    folders = [s for base in SUBSETS for s in (base, f"{base}_Flip") if (root / s).is_dir()]
    if not folders:
        raise InputFormatError(root, "layout", f"no 300W-LP subset folder found (expected some of {', '.join(SUBSETS)})")
    items: list[W300LPItem] = []
    for subset in sorted(folders):
        for image_path in sorted(p for p in (root / subset).glob("*.jpg") if p.is_file()):
            items.append(_scanned(item_for(root, subset, image_path.stem), model, read_pose))
    return items


def _scanned(item: W300LPItem, model: MorphableModel | None, read_pose: bool) -> W300LPItem:
    if item.mat_path is None:
        return replace(item, problem=PROBLEM_NO_MAT, detail=f"{item.image_path.with_suffix('.mat').name} does not exist")
    if not read_pose:
        return item
    try:
        # loadmat reads the whole file anyway, so every field is checked here, not later
        fit = read_fit(item.mat_path)
    except InputFormatError as exc:
        return replace(item, problem=PROBLEM_BROKEN_MAT, detail=str(exc))
    counts = (fit.shape.size, fit.expression.size)
    item = replace(item, yaw=-math.degrees(fit.yaw), counts=counts)
    if model is not None and counts != (model.n_identity, model.n_expression):
        return replace(item, problem=PROBLEM_MODEL_MISMATCH,
                       detail=f"{item.mat_path}: Shape_Para/Exp_Para: {counts[0]} / {counts[1]} coefficients, the "
                              f"model has {model.n_identity} / {model.n_expression}")
    return item


def model_mismatch(items: list[W300LPItem], model: MorphableModel) -> str | None:
    """When no readable fit has the model's coefficient counts, why, in words (counts on both sides); else
    None. Then the model is not the one the fits were made with, and nothing could be converted."""
    readable = [it for it in items if it.counts is not None]
    if not readable or any(it.problem != PROBLEM_MODEL_MISMATCH for it in readable):
        return None
    seen = sorted({it.counts for it in readable})
    found = ", ".join(f"{s} shape / {e} expression" for s, e in seen[:3])
    return (f"the {len(readable)} readable fits have {found} coefficients (e.g. {readable[0].key}.mat); the "
            f"model has {model.n_identity} / {model.n_expression}: give the model the fits were made with "
            "(300W-LP's are BFM's 199 / 29)")


def item_for(root: str | Path, subset: str, name: str) -> W300LPItem:
    """The item for `<root>/<subset>/<name>.jpg` (no .mat read; yaw None)."""
    root = Path(root)
    image_path = root / subset / f"{name}.jpg"
    mat = image_path.with_suffix(".mat")
    lmk = root / "landmarks" / subset.removesuffix("_Flip") / f"{name}_pts.mat"
    return W300LPItem(
        subset=subset,
        name=name,
        image_path=image_path,
        mat_path=mat if mat.is_file() else None,
        landmarks_path=lmk if lmk.is_file() else None,
        group=identity_group(subset, name),
        flipped=subset.endswith("_Flip"),
    )


def skipped_counts(items: list[W300LPItem]) -> dict[str, int]:
    """{"no_mat": n, "broken_mat": m, "model_mismatch": k} over a scan."""
    counts = dict.fromkeys(PROBLEMS, 0)
    for item in items:
        if item.problem is not None:
            counts[item.problem] += 1
    return counts


def skipped_files(items: list[W300LPItem]) -> list[dict]:
    """Every image a scan left out, by name: [{"file": "<subset>/<name>.jpg", "reason": ..., "detail": ...}]."""
    return [{"file": f"{it.key}.jpg", "reason": it.problem, "detail": it.detail} for it in items if it.problem]


def _field(mat: dict, path: Path, name: str, size: int | None) -> np.ndarray:
    if name not in mat:
        raise InputFormatError(path, name, "missing")
    try:
        values = np.asarray(mat[name], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputFormatError(path, name, f"not numeric ({exc})") from exc
    if size is not None and values.size != size:
        raise InputFormatError(path, name, f"has shape {values.shape}, expected {size} values")
    if not np.all(np.isfinite(values)):
        raise InputFormatError(path, name, "contains NaN or infinity")
    return values


def read_fit(mat_path: str | Path, model: MorphableModel | None = None, need_shape: bool = True) -> W300LPFit:
    """Read Pose_Para, Shape_Para, Exp_Para (and pt2d if present) from one 300W-LP .mat.

    model: when given, Shape_Para / Exp_Para must have as many values as its identity / expression bases.
    need_shape: False reads only Pose_Para (the scan needs just the yaw).
    Raises InputFormatError naming the file and the field.
    """
    from frontside.facemodel.bfm import read_mat
    from frontside.facemodel.checks import float32_values

    path = Path(mat_path)
    mat = read_mat(path)
    pose = _field(mat, path, "Pose_Para", 7).ravel()
    if pose[6] <= 0:
        raise InputFormatError(path, "Pose_Para", f"scale (7th value) is {pose[6]}, expected > 0")
    n_id = model.n_identity if model is not None else None
    n_exp = model.n_expression if model is not None else None
    shape = _field(mat, path, "Shape_Para", n_id).ravel() if need_shape else np.zeros(0)
    expression = _field(mat, path, "Exp_Para", n_exp).ravel() if need_shape else np.zeros(0)
    pt2d = None
    if "pt2d" in mat:
        raw = _field(mat, path, "pt2d", 136)
        pt2d = float32_values(raw.T if raw.shape == (2, 68) else raw.reshape(68, 2), path, "pt2d")
    return W300LPFit(
        pitch=float(pose[0]), yaw=float(pose[1]), roll=float(pose[2]),
        translation=pose[3:6].copy(), scale=float(pose[6]),
        shape=float32_values(shape, path, "Shape_Para"), expression=float32_values(expression, path, "Exp_Para"),
        pt2d=pt2d,
    )


def fit_rotation(fit: W300LPFit) -> np.ndarray:
    """(3, 3) float64 R3 = angle2matrix_3ddfa(pitch, yaw, roll) = (Rz(roll) Ry(yaw) Rx(pitch)).T."""
    from frontside.geometry.transforms import rotation_matrix

    return np.asarray(rotation_matrix(fit.yaw, fit.pitch, fit.roll, degrees=False), dtype=np.float64).T


def pose_from_fit(fit: W300LPFit) -> Pose:
    """The fit's head pose in our convention (degrees, R = Rz(roll) Ry(yaw) Rx(pitch))."""
    from frontside.geometry.transforms import angles_from_matrix

    yaw, pitch, roll = angles_from_matrix(fit_rotation(fit))
    return Pose(yaw=float(yaw), pitch=float(pitch), roll=float(roll))


def fit_vertices(fit: W300LPFit, model: MorphableModel) -> np.ndarray:
    """(N, 3) float32 model-frame mesh of a fit, exactly as face3d's generate_vertices builds it.

    Raw coefficients multiply the bases directly: Shape_Para and Exp_Para are already in BFM units.
    """
    if fit.shape.size != model.n_identity or fit.expression.size != model.n_expression:
        raise ValueError(
            f"fit has {fit.shape.size} shape / {fit.expression.size} expression values, "
            f"model {model.name} has {model.n_identity} / {model.n_expression}"
        )
    # float32 products: a float64 copy of BFM's (160k, 199) basis per image would cost 250 MB and 0.2 s,
    # and float32 keeps ~1e-2 BFM units here (1e-5 px at 300W-LP's scales)
    offset = model.id_basis @ fit.shape.astype(np.float32) + model.exp_basis @ fit.expression.astype(np.float32)
    vertices = model.mean.astype(np.float64) + offset.reshape(-1, 3)
    if model.exp_mean is not None:
        vertices += model.exp_mean
    return vertices.astype(np.float32)


def fit_coefficients(fit: W300LPFit, model: MorphableModel) -> Coefficients:
    """The fit's Shape_Para / Exp_Para in the face model's standard deviations (`MorphableModel`'s units): the raw
    values over shapeEV / expEV, so `model.vertices` of them is `fit_vertices` (to float32 rounding). A component
    whose deviation is 0 moves nothing: its coefficient is 0."""
    def scaled(raw: np.ndarray, std: np.ndarray) -> np.ndarray:
        std = np.asarray(std, np.float64)
        out = np.divide(np.asarray(raw, np.float64), std, out=np.zeros(len(std)), where=std > 0)
        return out.astype(np.float32)

    return Coefficients(scaled(fit.shape, model.id_std), scaled(fit.expression, model.exp_std))


def fit_world_to_vcs(fit: W300LPFit, height: int) -> np.ndarray:
    """(4, 4) float64: model frame -> our image frame (x right, y down, +0.5 pixel centres, z nearer = larger).

    face3d: x = (s R3 v + t)x and y = H - 1 - (s R3 v + t)y with integer pixel centres; +0.5 moves both to ours.
    """
    similarity = np.eye(4)
    similarity[:3, :3] = fit.scale * fit_rotation(fit)
    similarity[:3, 3] = fit.translation
    to_image = np.diag([1.0, -1.0, 1.0, 1.0])
    to_image[0, 3] = 0.5
    to_image[1, 3] = height - 0.5
    return to_image @ similarity


def _read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB in the stored pixels' frame: the fits' landmarks and poses are in that frame (MATLAB's
    imread ignores EXIF orientation), so orientation is not applied; modes as any photo (`frontside.images`)."""
    from frontside.images import read_photo

    return read_photo(path, orientation=False)


def posed_view(item: W300LPItem, model: MorphableModel) -> RenderedView:
    """The photo (RGBA, alpha 255) with the fitted mesh posed into its frame; renderer "300wlp".

    vertices: (N, 3) float32, x right, y down in pixels (+0.5 centres), z toward the camera in pixels.
    Raises InputFormatError for a missing or unreadable image or .mat, or a missing / malformed field.
    """
    return _posed(item, model)[0]


def _posed(item: W300LPItem, model: MorphableModel) -> tuple[RenderedView, W300LPFit]:
    """(`posed_view`, the fit it was posed with)."""
    if item.mat_path is None:
        raise InputFormatError(item.image_path.with_suffix(".mat"), "file", "does not exist")
    fit = read_fit(item.mat_path, model)
    rgb = _read_image(item.image_path)
    height = rgb.shape[0]
    image = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    world_to_vcs = fit_world_to_vcs(fit, height)
    v = fit_vertices(fit, model).astype(np.float64)
    vertices = v @ world_to_vcs[:3, :3].T + world_to_vcs[:3, 3]
    return RenderedView(
        image=image,
        vertices=vertices.astype(np.float32),
        world_to_vcs=world_to_vcs,
        pose=pose_from_fit(fit),
        renderer=RENDERER,
    ), fit


def is_front(yaw: float) -> bool:
    return abs(yaw) <= FRONT_MAX_YAW


def is_side(yaw: float) -> bool:
    return FRONT_MAX_YAW < abs(yaw) <= SIDE_MAX_YAW


def pair_items(items: list[W300LPItem], rng: np.random.Generator) -> list[tuple[W300LPItem, W300LPItem]]:
    """Each front image (|yaw| <= 45) with one side image (45 < |yaw| <= 100) of the same identity group.

    Items with a problem or no yaw are left out. Groups and their members are visited in sorted order and the
    side is drawn with `rng`, so the list depends only on the items and the rng's state.
    """
    groups: dict[str, list[W300LPItem]] = defaultdict(list)
    for item in items:
        if item.problem is None and item.yaw is not None and math.isfinite(item.yaw):
            groups[item.group].append(item)
    pairs: list[tuple[W300LPItem, W300LPItem]] = []
    for group in sorted(groups):
        members = sorted(groups[group], key=lambda it: it.key)
        fronts = [it for it in members if is_front(it.yaw)]
        sides = [it for it in members if is_side(it.yaw)]
        if not sides:
            continue
        for front in fronts:
            pairs.append((front, sides[int(rng.integers(len(sides)))]))
    return pairs


def _crop_view(view: RenderedView, landmarks: np.ndarray, rng: np.random.Generator, out_size: int):
    """Crop a view around its projected landmarks: ((S, S, 3) uint8 RGB, (N, 3) float32 cropped vertices)."""
    from frontside.geometry.crop import landmark_crop, warp_image, warp_vertices

    A = landmark_crop(view.vertices[landmarks, :2], out_size=out_size, rng=rng)
    image = warp_image(np.ascontiguousarray(view.image[..., :3]), A, out_size)  # uint8 in, uint8 out
    return image, warp_vertices(view.vertices, A)


def make_300wlp_pair(front_item: W300LPItem, side_item: W300LPItem, model: MorphableModel,
                     rng: np.random.Generator, *, face_index: int = 0, seed: int = 0,
                     out_size: int = 256) -> Face:
    """One two-view face from two photos of the same person: crops, the front's posmap, each view's labels
    from the fitted mesh (segmentation, depth, landmarks + visibility; no camera or lights: the photo's own),
    the front fit's coefficients in the model's standard deviations (`fit_coefficients`), metadata.

    Each photo is cropped around its own projected landmarks (PRN's crop, with `rng` jitter: front first, then
    side); the position map is the front mesh in the front crop's frame, z shifted to a minimum of 0.
    """
    from frontside.geometry.posmap import rasterize_posmap
    from frontside.synthesis.labels import view_labels

    front_view, front_fit = _posed(front_item, model)
    side_view = posed_view(side_item, model)
    front_rgb, front_xyz = _crop_view(front_view, model.landmarks, rng, out_size)
    side_rgb, side_xyz = _crop_view(side_view, model.landmarks, rng, out_size)
    posmap, mask = rasterize_posmap(model.uv, model.triangles, front_xyz, size=out_size)
    front_labels, side_labels = (
        view_labels(FaceMesh(xyz, model.triangles, model.uv, model.landmarks, regions=model.regions), xyz, out_size)
        for xyz in (front_xyz, side_xyz))
    fp, sp = front_view.pose, side_view.pose
    meta = FaceMeta(face_id=f"300wlp-{front_item.subset}-{front_item.name}", seed=int(seed),
                    face_index=int(face_index), source=SOURCE, renderer=RENDERER, model=model.name)
    views = (View(front_rgb, "front", float(fp.yaw), float(fp.pitch), float(fp.roll), front_labels),
             View(side_rgb, side_of(sp.yaw), float(sp.yaw), float(sp.pitch), float(sp.roll), side_labels))
    return Face(views=views, posmap=np.asarray(posmap, dtype=np.float32), mask=np.asarray(mask, dtype=bool),
                landmarks=front_xyz[model.landmarks].astype(np.float32), meta=meta,
                coefficients=fit_coefficients(front_fit, model))


def read_landmark_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """landmarks/<SUBSET>/<name>_pts.mat -> (pts_2d (68, 2) float32, pts_3d (68, 2) float32).

    300W-LP stores both as 68 x 2: pts_2d the visible-contour landmarks, pts_3d the 3D-consistent ones.
    """
    from frontside.facemodel.bfm import read_mat

    path = Path(path)
    mat = read_mat(path)
    out = []
    for name in ("pts_2d", "pts_3d"):
        raw = _field(mat, path, name, 136)
        out.append((raw.T if raw.shape == (2, 68) else raw.reshape(68, 2)).astype(np.float32))
    return out[0], out[1]
