"""A PyTorch Dataset over shard folders: random access by (shard, row), safe with DataLoader workers. Items are
(front, side) inputs and posmap targets for today's networks (`twoview`, `frontonly`, `prn`: the front and the
first side view, whatever N a row holds). For a network of N views, `ShardDataset.face_views` gives every view of
a face with its labels, camera and the true coefficients as arrays (`FaceViews`), and `MultiViewDataset` the same
as tensors, batched by `collate_views`:

    data = MultiViewDataset(ShardDataset(roots, labels=True, input_size=128), n_views=3)
    batch = next(iter(make_loader(data, batch_size=8, shuffle=True)))   # batch["images"]: (8, 3, 3, 128, 128)
    xy = project_views(points, batch["world_to_input"])                # (8, 3, P, 2): a loss in every view

Augmentation follows thesis 2.3 and 4.3.3: a rotation within ±45° applied to both images and to the position
map's x, y about the image centre (z unchanged); a per-channel colour scale in 0.9-1.2; random black occlusion
boxes ("image dropout"). Inputs and targets follow `network_io` (images / 255 at the network's input size,
position map / 1.1 S, as PRN).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from frontside.errors import DataIntegrityError
from frontside.learning.network_io import network_input, posmap_target, resize_image
from frontside.store.dataset import read_uv_regions
from frontside.store.manifest import ShardInfo, list_shards
from frontside.store.records import Face
from frontside.store.shards import TRAINING_COLUMNS, VIEW_COLUMNS, decode_row, read_shard

VIEWS = ("both", "front")


@dataclass(frozen=True)
class Augmentation:
    """The ranges of the training augmentation (thesis 4.3.3: ±45°, colour scale 0.9-1.2)."""

    rotation_deg: float = 45.0
    colour_scale: tuple[float, float] = (0.9, 1.2)
    occlusion_probability: float = 0.5  # per image
    max_boxes: int = 3
    box_fraction: tuple[float, float] = (0.05, 0.35)  # box side as a fraction of the image side


def rotation_about_centre(angle_deg: float, size: int = 256) -> np.ndarray:
    """(2, 3) float64 affine on pixel coordinates (centres at +0.5, y down): rotation by `angle_deg`
    counter-clockwise on screen about the image centre (size / 2, size / 2)."""
    c = size / 2.0
    a = np.deg2rad(angle_deg)
    r = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # y points down: this turns counter-clockwise
    return np.column_stack([r, np.array([c, c]) - r @ np.array([c, c])])


def rotate_image(image: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 image moved by `affine` (our +0.5 pixel-centre frame), bilinear, black outside."""
    # OpenCV puts pixel centres at integers: conjugate by the half-pixel shift
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    cv = np.linalg.inv(shift) @ np.vstack([affine, [0, 0, 1]]) @ shift
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def rotate_posmap(posmap: np.ndarray, affine: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(S, S, 3) float32 position map with x, y moved by `affine` and z unchanged; uncovered pixels (mask
    False) stay 0. The UV layout itself does not move: a pixel still names the same surface point."""
    out = posmap.astype(np.float32, copy=True)
    out[..., :2] = posmap[..., :2] @ affine[:, :2].T.astype(np.float32) + affine[:, 2].astype(np.float32)
    if mask is not None:
        out[~mask] = 0.0
    return out


def scale_and_occlude(image: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """(H, W, 3) uint8: each channel times a factor in `aug.colour_scale`, then maybe black boxes."""
    out = image.astype(np.float32) * rng.uniform(*aug.colour_scale, size=3).astype(np.float32)
    if rng.random() < aug.occlusion_probability:
        h, w = image.shape[:2]
        for _ in range(int(rng.integers(1, aug.max_boxes + 1))):
            bh, bw = (rng.uniform(*aug.box_fraction, size=2) * [h, w]).astype(int)
            top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
            out[top:top + bh, left:left + bw] = 0.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def augment_views(front: np.ndarray, side: np.ndarray, posmap: np.ndarray, mask: np.ndarray,
                  rng: np.random.Generator, aug: Augmentation = Augmentation(), posmap_size: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(front, side, posmap) rotated together about their centres, then colour-scaled and occluded per image.

    The images may be smaller than the position map (a network's input size): each turns about its own centre,
    which is the same point of the crop. `posmap_size` is the image size S the posmap's x, y are pixels of (default:
    its own side; give it for a posmap of every t-th row and column)."""
    angle = float(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    image_turn = rotation_about_centre(angle, front.shape[0])
    front, side = rotate_image(front, image_turn), rotate_image(side, image_turn)
    posmap = rotate_posmap(posmap, rotation_about_centre(angle, posmap_size or posmap.shape[0]), mask)
    return scale_and_occlude(front, rng, aug), scale_and_occlude(side, rng, aug), posmap


@dataclass(frozen=True)
class FaceViews:
    """Every view of one face at a network's input size R (N views, front first; a format-1 or 2 row has two).

    images:       (N, R, R, 3) uint8.
    kinds:        N names: "front", then "left" / "right".
    poses:        (N, 3) float32 yaw, pitch, roll in degrees (`renderers.view.Pose`'s convention).
    landmarks:    (N, 68, 3) float32 in each view's crop at R: the row's landmarks (S-pixel crop frame, z in the
                  same pixels) times R / S.
    visible:      (N, 68) bool: inside the crop and not hidden by the face.
    segmentation: (N, R, R) uint8 `Part` per pixel, the row's map sampled at the R-pixel centres (nearest).
    world_to_eye, eye_to_clip, clip_to_image: (N, 4, 4) float64, the view's camera (eq. 4.1 of the uncropped
                  render); crop: (N, 3, 3) float64, the row's crop similarity followed by the scale R / S, so a
                  world point lands at crop @ [x, y, 1] in R pixels. NaN for a view without a camera (300W-LP,
                  FaceGen).
    identity:     (K,) float32, expression: (E,) float32: the face model's coefficients the face was drawn with,
                  in its standard deviations; None where the row has none.
    """

    images: np.ndarray
    kinds: tuple[str, ...]
    poses: np.ndarray
    landmarks: np.ndarray
    visible: np.ndarray
    segmentation: np.ndarray
    world_to_eye: np.ndarray
    eye_to_clip: np.ndarray
    clip_to_image: np.ndarray
    crop: np.ndarray
    identity: np.ndarray | None
    expression: np.ndarray | None

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self.__dataclass_fields__
                   if isinstance(getattr(self, name), np.ndarray))


def views_at_size(face: Face, size: int) -> FaceViews:
    """`FaceViews` of a decoded face with its labels at input size `size`."""
    if any(view.labels is None for view in face.views):
        raise ValueError(f"face {face.meta.face_id}: its views carry no labels (read with VIEW_COLUMNS)")
    scale = size / face.size
    centres = ((np.arange(size) + 0.5) * face.size / size).astype(np.int64)  # nearest source pixel centre
    labels = [view.labels for view in face.views]
    nan = np.full((4, 4), np.nan)
    cameras = [label.camera for label in labels]

    def matrices(name: str) -> np.ndarray:
        return np.stack([nan if c is None else np.asarray(getattr(c, name), np.float64) for c in cameras])

    to_input = np.diag([scale, scale, 1.0])
    coefficients = face.coefficients
    return FaceViews(
        images=np.stack([resize_image(view.image, size) for view in face.views]),
        kinds=tuple(view.kind for view in face.views),
        poses=np.array([[view.yaw, view.pitch, view.roll] for view in face.views], np.float32),
        landmarks=np.stack([label.landmarks for label in labels]).astype(np.float32) * np.float32(scale),
        visible=np.stack([label.visible for label in labels]).astype(bool),
        segmentation=np.stack([label.segmentation[centres][:, centres] for label in labels]),
        world_to_eye=matrices("world_to_eye"), eye_to_clip=matrices("eye_to_clip"),
        clip_to_image=matrices("clip_to_image"),
        crop=np.stack([nan[:3, :3] if c is None else to_input @ np.asarray(c.crop, np.float64) for c in cameras]),
        identity=None if coefficients is None else np.asarray(coefficients.identity, np.float32),
        expression=None if coefficients is None else np.asarray(coefficients.expression, np.float32))


class ShardDataset(Dataset):
    """Faces from one or more dataset folders, indexed through their manifests.

    views:   "both" -> (6, R, R) input (front then side); "front" -> (3, R, R).
    input_size: R, the network's input size (None: the data's own size S).
    augment: apply `augmentation`; the draw for an item is a function of (seed, epoch, index) only, so a run is
             reproducible whichever worker loads the item.
    indices: optional subset of the global row indices (a train/validation split).
    target_stride: t; targets keep every t-th posmap row and column only, (3, S/t, S/t): what a structured
             network trains on (`PosedBasis`), and the sample cache then holds a quarter of each posmap at t = 2
             (~0.21 MB a pair at S = 256, R = 128, instead of ~0.56 MB: about 10,000 pairs in the 2 GiB default).
    labels:  also read every view's landmarks, visibility, camera and parts and the coefficients
             (`VIEW_COLUMNS`), for `face_views`; items stay (front, side) ones. Cached tables then hold every view's
             segmentation too (they hold all N images of an N-view row either way: a Parquet list is read whole).
    Keys are an int index, or (epoch, index) from `EpochShuffleSampler` (persistent workers never see
    `set_epoch`, so the epoch travels with the key). Each worker process reads shards lazily (nothing open is
    pickled; only the columns a training pair needs) and keeps the most recently used ones in memory up to
    `cache_bytes` (~0.55 MB a pair decoded at S = 256, so the 2 GiB default holds ~3,900 pairs); `fits_in_cache`
    tells the trainer whether a full shuffle is affordable.
    Items: (input (C, R, R) float32, target (3, S/t, S/t) float32).
    """

    def __init__(self, roots: str | list[str], views: str = "both", augment: bool = False, seed: int = 0,
                 augmentation: Augmentation = Augmentation(), indices: list[int] | None = None,
                 cache_bytes: int = 2 << 30, input_size: int | None = None, sample_cache_bytes: int = 2 << 30,
                 target_stride: int = 1, labels: bool = False):
        self.roots = [roots] if isinstance(roots, str) else list(roots)
        if not self.roots:
            raise ValueError("ShardDataset needs at least one dataset folder")
        if views not in VIEWS:
            raise ValueError(f"views must be one of {VIEWS}, not {views!r}")
        self.views, self.augment, self.seed, self.augmentation = views, augment, seed, augmentation
        self.input_size = input_size
        if target_stride < 1:
            raise ValueError(f"target_stride must be >= 1, not {target_stride}")
        self.target_stride = target_stride
        self.labels = labels
        self.shards: list[tuple[str, ShardInfo]] = [s for root in self.roots for s in list_shards(root)]
        self.rows: list[tuple[int, int]] = [(k, r) for k, (_, info) in enumerate(self.shards)
                                            for r in range(info.rows)]
        if indices is not None:
            self.rows = [self.rows[i] for i in indices]
        self.cache_bytes, self.sample_cache_bytes = cache_bytes, sample_cache_bytes
        self._tables: OrderedDict[int, object] = OrderedDict()
        self._cached_bytes = 0
        self._samples: OrderedDict[tuple[str, int], tuple[np.ndarray, ...] | FaceViews] = OrderedDict()
        self._sample_bytes = 0
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_tables"], state["_cached_bytes"] = OrderedDict(), 0  # each worker reads its own copies
        state["_samples"], state["_sample_bytes"] = OrderedDict(), 0
        return state

    def used_shards(self) -> list[int]:
        return sorted({shard for shard, _ in self.rows})

    def _bytes_per_row(self) -> float:
        """A decoded table's bytes per row, measured on the first shard this dataset reads (files compress the
        posmaps: a decoded table is ~1.3x its file, ~2x with the depth columns it does not read)."""
        first = self.used_shards()[0] if self.rows else 0
        return self._table(first).nbytes / max(self.shards[first][1].rows, 1)

    def fits_in_cache(self) -> bool:
        """Whether every shard this dataset reads fits in `cache_bytes` once decoded."""
        rows = sum(self.shards[k][1].rows for k in self.used_shards())
        return rows * self._bytes_per_row() <= self.cache_bytes

    def shards_per_window(self) -> int:
        """How many of this dataset's (largest) shards fit in the cache at once, decoded: a shuffle window that
        reads each shard once per epoch."""
        largest = max((self.shards[k][1].rows for k in self.used_shards()), default=1)
        return max(1, int(self.cache_bytes // (largest * self._bytes_per_row())))

    def set_epoch(self, epoch: int) -> None:
        """The epoch used for plain int keys (in-process loading)."""
        self.epoch = epoch

    def uv_regions(self) -> np.ndarray:
        """(S, S) uint8 region map shared by every root (they must agree: one UV layout, one loss mask)."""
        first = read_uv_regions(self.roots[0])
        for root in self.roots[1:]:
            if not np.array_equal(read_uv_regions(root), first):
                raise DataIntegrityError(f"{root}: uv_regions.png differs from {self.roots[0]}'s "
                                         "(datasets of different face-model UV layouts cannot be mixed)")
        return first

    def _table(self, shard: int):
        if shard in self._tables:
            self._tables.move_to_end(shard)
            return self._tables[shard]
        table = self.read_table(shard)
        self._tables[shard] = table
        self._cached_bytes += table.nbytes
        while self._cached_bytes > self.cache_bytes and len(self._tables) > 1:
            self._cached_bytes -= self._tables.popitem(last=False)[1].nbytes
        return table

    @property
    def columns(self) -> list[str]:
        """The columns this dataset reads: a training pair's (no view labels or depth: training reads none), and
        with `labels` every view's labels too, for `face_views` (still no depth)."""
        return VIEW_COLUMNS if self.labels else TRAINING_COLUMNS

    def read_table(self, shard: int):
        """Shard `shard`'s table, only `columns`; `streaming.StreamedShards` reads shards behind URLs through its
        local cache."""
        url, info = self.shards[shard]
        return read_shard(url, info, columns=self.columns)

    def shard_of(self, index: int) -> int:
        return self.rows[index][0]

    def face(self, index: int) -> Face:
        """Row `index` decoded: every view, with labels and coefficients when the dataset reads them (`labels`)."""
        shard, row = self.rows[index]
        return decode_row(self._table(shard), row)

    def _cached(self, key: tuple[str, int], make):
        """The decoded value of `key`, made once and kept, most recently used last, up to `sample_cache_bytes`."""
        if key in self._samples:
            self._samples.move_to_end(key)
            return self._samples[key]
        value = make()
        self._samples[key] = value
        self._sample_bytes += _nbytes(value)
        while self._sample_bytes > self.sample_cache_bytes and self._samples:
            self._sample_bytes -= _nbytes(self._samples.popitem(last=False)[1])
        return value

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(front, side) uint8 at the input size (the side the row's first side view), posmap (S/t, S/t, 3)
        float16 as stored, mask (S/t, S/t) bool (t = `target_stride`): what an item is made from, decoded once and
        kept (PNG decoding is ~60% of an item's cost) up to `sample_cache_bytes`."""
        def make() -> tuple[np.ndarray, ...]:
            shard, row = self.rows[index]
            face = decode_row(self._table(shard), row, n_views=2)
            size = self.input_size or face.size
            return (resize_image(face.front, size), resize_image(face.side, size)) + self._strided(face)

        return self._cached(("sample", index), make)

    def target(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(posmap (S/t, S/t, 3) float16, mask (S/t, S/t) bool): `sample`'s target without its images, what a
        multi-view item reads beside `face_views` (which holds the images), decoded once and kept in the same
        cache (~0.11 MB at S = 256, t = 2, against `sample`'s ~0.21 MB at R = 128)."""
        def make() -> tuple[np.ndarray, np.ndarray]:
            shard, row = self.rows[index]
            return self._strided(decode_row(self._table(shard), row, n_views=2))

        return self._cached(("target", index), make)

    def _strided(self, face: Face) -> tuple[np.ndarray, np.ndarray]:
        """(posmap float16, mask) of `face` at every `target_stride`-th row and column."""
        t = self.target_stride
        if face.posmap.shape[0] % t:
            raise ValueError(f"target_stride {t} does not divide the posmap size {face.posmap.shape[0]}")
        return (np.ascontiguousarray(face.posmap[::t, ::t]).astype(np.float16),
                np.ascontiguousarray(face.mask[::t, ::t]))

    def face_views(self, index: int) -> FaceViews:
        """Every view of face `index` at the input size with its landmarks, visibility, parts and camera, and the
        face's coefficients (`FaceViews`), decoded once and kept in the same cache as `sample`'s. Needs
        `labels=True`; a row without labels (format 1) is an error naming its shard."""
        if not self.labels:
            raise ValueError("ShardDataset.face_views reads the views' labels: make the dataset with labels=True")

        def make() -> FaceViews:
            face = self.face(index)
            if face.front_view is None:
                raise DataIntegrityError(f"{self.shards[self.rows[index][0]][0]}: row {self.rows[index][1]} has no "
                                         "view labels (a format-1 shard): regenerate the dataset")
            return views_at_size(face, self.input_size or face.size)

        return self._cached(("views", index), make)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = (key if isinstance(key, tuple) else (self.epoch, key))
        return self.item(self.sample(int(index)), int(epoch), int(index))

    def item(self, sample: tuple[np.ndarray, ...], epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) of row `index` from its `sample`, augmented as epoch `epoch` draws it."""
        front, side, posmap, mask = sample
        posmap = posmap.astype(np.float32)
        size = posmap.shape[0] * self.target_stride
        if self.augment:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(epoch), int(index)]))
            front, side, posmap = augment_views(front, side, posmap, mask, rng, self.augmentation, size)
        return network_input(front, side, self.views, front.shape[0]), posmap_target(posmap, size)


def _nbytes(value: tuple[np.ndarray, ...] | FaceViews) -> int:
    return value.nbytes if isinstance(value, FaceViews) else sum(a.nbytes for a in value)


# an item's tensors, first dimension N (the views) except the face's own
VIEW_KEYS = ("images", "side", "poses", "landmarks", "visible", "segmentation", "world_to_eye", "eye_to_clip",
             "clip_to_image", "crop", "world_to_input", "has_camera")
FACE_KEYS = ("identity", "expression", "has_coefficients", "target")


def world_to_input(views: FaceViews) -> np.ndarray:
    """(N, 4, 4) float64: each view's whole camera at the input size, crop @ M_CSS->VCS @ M_ECS->CSS @ M_WCS->ECS
    with the crop acting on x, y: a world point p lands at (h[0], h[1]) / h[3] in input pixels, h = M @ [p, 1]
    (`project_views`). NaN for a view without a camera."""
    crop = np.zeros((len(views.kinds), 4, 4))
    crop[:, :2, :2], crop[:, :2, 3] = views.crop[:, :2, :2], views.crop[:, :2, 2]
    crop[:, 2, 2] = crop[:, 3, 3] = 1.0
    return crop @ views.clip_to_image @ views.eye_to_clip @ views.world_to_eye


def project_views(points: torch.Tensor, world_to_input: torch.Tensor) -> torch.Tensor:
    """(B, N, P, 2) pixels in each view's input crop (centres at +0.5, y down) of world points (B, P, 3) through
    (B, N, 4, 4) `world_to_input` matrices (differentiable; computed in the matrices' dtype)."""
    p = points.to(world_to_input.dtype)
    h = torch.einsum("bnij,bpj->bnpi", world_to_input[..., :3], p) + world_to_input[..., None, :, 3]
    return h[..., :2] / h[..., 3:4]


class MultiViewDataset(Dataset):
    """The faces of a `ShardDataset` made with `labels=True` (its shards, split, input size R, target stride t
    and bounded cache), each as the tensors of its first `n_views` views.

    n_views: N, the views an item keeps: the front, then side views in row order (format 3: the first side view on
             a random side, then alternating sides, so 3 views are front, one side, the other); None keeps every
             view of each face. A face with fewer views than `n_views` is an error naming its shard.
    Keys as `ShardDataset`'s: an int index, or (epoch, index) from `EpochShuffleSampler` (unused: no augmentation
    yet, since a rotation would have to turn the cameras and landmarks with the images).

    An item is a dict of tensors (R the input size, K, E the face model's coefficient counts, S/t the target's side):
      images:        (N, 3, R, R) float32 in [0, 1] (`network_io`'s convention), front first.
      side:          (N,) int64: 0 for the front, -1 left, +1 right (the sign of a side view's yaw).
      poses:         (N, 3) float32 yaw, pitch, roll in degrees.
      landmarks:     (N, 68, 3) float32 in input pixels of each view's crop (z in the same pixels).
      visible:       (N, 68) bool, in the crop and not hidden by the face.
      segmentation:  (N, R, R) uint8 `records.Part` per pixel.
      world_to_eye, eye_to_clip, clip_to_image: (N, 4, 4) float64; crop: (N, 3, 3) float64 to input pixels;
      world_to_input: (N, 4, 4) float64, all four at once (`world_to_input`, `project_views`); NaN where a view
                     has no camera (300W-LP, FaceGen), has_camera: (N,) bool says which.
      identity:      (K,) float32, expression: (E,) float32: the coefficients the face was drawn with in the
                     model's standard deviations; (0,) where the row has none (a batch fills in zeros),
                     has_coefficients: () bool says which.
      target:        (3, S/t, S/t) float32, the front view's posmap target (`network_io.posmap_target`), as
                     `ShardDataset`'s items.
    Batches (`collate_views`, what `make_loader` uses for this dataset) add a first dimension B to each.
    """

    def __init__(self, faces: ShardDataset, n_views: int | None = None):
        if not faces.labels:
            raise ValueError("MultiViewDataset reads the views' labels: make its ShardDataset with labels=True")
        if n_views is not None and n_views < 1:
            raise ValueError(f"n_views must be >= 1, not {n_views}")
        self.faces, self.n_views = faces, n_views

    def __len__(self) -> int:
        return len(self.faces)

    def shard_of(self, index: int) -> int:
        return self.faces.shard_of(index)

    def set_epoch(self, epoch: int) -> None:
        self.faces.set_epoch(epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index = int(key[1] if isinstance(key, tuple) else key)
        views = self.faces.face_views(index)
        n = len(views.kinds) if self.n_views is None else self.n_views
        if len(views.kinds) < n:
            shard, row = self.faces.rows[index]
            raise DataIntegrityError(f"{self.faces.shards[shard][0]}: row {row} has {len(views.kinds)} views, "
                                     f"fewer than n_views={n}")
        posmap, _ = self.faces.target(index)
        size = posmap.shape[0] * self.faces.target_stride
        to_input = world_to_input(views)
        coefficients = views.identity is not None
        return {
            "images": torch.from_numpy(np.ascontiguousarray(views.images[:n].transpose(0, 3, 1, 2))).float()
            .div_(255.0),
            "side": torch.tensor([0 if kind == "front" else (-1 if kind == "left" else 1)
                                  for kind in views.kinds[:n]], dtype=torch.int64),
            "poses": torch.from_numpy(views.poses[:n].copy()),
            "landmarks": torch.from_numpy(views.landmarks[:n].copy()),
            "visible": torch.from_numpy(views.visible[:n].copy()),
            "segmentation": torch.from_numpy(views.segmentation[:n].copy()),
            "world_to_eye": torch.from_numpy(views.world_to_eye[:n].copy()),
            "eye_to_clip": torch.from_numpy(views.eye_to_clip[:n].copy()),
            "clip_to_image": torch.from_numpy(views.clip_to_image[:n].copy()),
            "crop": torch.from_numpy(views.crop[:n].copy()),
            "world_to_input": torch.from_numpy(to_input[:n].copy()),
            "has_camera": torch.from_numpy(np.isfinite(to_input[:n]).all(axis=(1, 2))),
            "identity": torch.from_numpy(views.identity.copy()) if coefficients else torch.zeros(0),
            "expression": torch.from_numpy(views.expression.copy()) if coefficients else torch.zeros(0),
            "has_coefficients": torch.tensor(coefficients),
            "target": posmap_target(posmap.astype(np.float32), size),
        }

    @staticmethod
    def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return collate_views(items)


def collate_views(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """A batch of `MultiViewDataset` items: each tensor stacked along a new first dimension B. Faces must have
    one view count (give `n_views`); a face without coefficients gets zeros of the batch's K and E with
    has_coefficients False (a batch of faces without any has K = E = 0)."""
    counts = sorted({len(item["images"]) for item in items})
    if len(counts) > 1:
        raise ValueError(f"faces of {counts} views in one batch: make the MultiViewDataset with n_views="
                         f"{counts[0]} (or fewer) to read that many views of each")
    batch = {}
    for name in ("identity", "expression"):
        present = {tuple(item[name].shape) for item in items if item["has_coefficients"]}
        if len(present) > 1:
            raise ValueError(f"{name} coefficients of different lengths {sorted(present)} in one batch "
                             "(datasets of different face models)")
        shape = present.pop() if present else (0,)
        batch[name] = torch.stack([item[name] if item["has_coefficients"] else torch.zeros(shape)
                                   for item in items])
    for name in VIEW_KEYS + ("has_coefficients", "target"):
        batch[name] = torch.stack([item[name] for item in items])
    return batch


class EpochShuffleSampler(Sampler):
    """Yields (epoch, index) keys: a new order each epoch, fixed by (seed, epoch).

    window=None shuffles all rows (thesis 4.3.3). A window of k shards shuffles the order of shards, then the
    rows of each run of k shards together: every shard is read once per epoch per worker instead of once per
    row, which matters when shards are many and rows large (16 rows per shard: ~5 MB read per row otherwise).
    """

    def __init__(self, dataset: ShardDataset, seed: int = 0, window: int | None = None):
        self.dataset, self.seed, self.window = dataset, seed, window
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> list[int]:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, 0x5A4D]))
        n = len(self.dataset)
        if self.window is None:
            return [int(i) for i in rng.permutation(n)]
        by_shard: dict[int, list[int]] = {}
        for i in range(n):
            by_shard.setdefault(self.dataset.shard_of(i), []).append(i)
        shards = list(by_shard)
        shards = [shards[k] for k in rng.permutation(len(shards))]
        out: list[int] = []
        for start in range(0, len(shards), self.window):
            group = [i for s in shards[start:start + self.window] for i in by_shard[s]]
            out += [group[k] for k in rng.permutation(len(group))]
        return out

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.order()])

    def __len__(self) -> int:
        return len(self.dataset)


def _worker_init(_: int) -> None:
    # two cores are shared by the trainer and its workers: one thread each
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, workers: int = 0, seed: int = 0,
                drop_last: bool = False, window: int | None = None) -> DataLoader:
    """A DataLoader over `dataset`; shuffle=True draws a new (seed, epoch) order each epoch: call
    `loader.sampler.set_epoch(e)` (keys carry the epoch, so augmentation follows it in every worker).

    `dataset` is a `ShardDataset` or a `MultiViewDataset` (batched by its `collate`).
    Workers are spawned, not forked: forking a process that holds Prefect's threads and event loop, or an
    OpenGL context, kills workers at random. They persist across epochs, so the spawn cost (~2 s) is paid once.
    """
    sampler = EpochShuffleSampler(dataset, seed, window) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=drop_last,
                      collate_fn=getattr(dataset, "collate", None),  # `MultiViewDataset`'s own
                      multiprocessing_context="spawn" if workers > 0 else None, persistent_workers=workers > 0,
                      worker_init_fn=_worker_init if workers > 0 else None)
