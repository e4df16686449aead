"""frontside's own face locator: two small CNNs, trained on our renders, that find a face's 68 landmarks in a photo.

Stage 1 (`BoxNet`) reads the whole photo shrunk to `box_input` pixels on its long side (letterboxed into a square
of grey) and answers, CenterNet-style on a grid of stride 8, where the centre of the 68-landmark box is, how large
the box is ((w + h) / 2) and how sure it is. Stage 2 (`LandmarkNet`) reads training's crop of that box
(`geometry.crop.landmark_crop`'s rule: a square of 1.5 x the box size on its centre, `landmark_input` pixels) and
regresses the 68 landmarks' positions in it, for a front or a side view alike (hidden landmarks included: the
crop rule needs all 68). Stage 2 runs again on the crop of its own answer (`passes`), which is how the crop settles
on training's.

The weights ship inside the package (`locator.npz`, ~1.5 MB, float16; licence: frontside's own, made by
`benchmarks/train_locator.py` from the built-in face model's renders); nothing downloads. They hold a JSON record
of how they were made (`Locator.meta`).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from frontside.errors import DataIntegrityError
from frontside.geometry.crop import crop_from_landmark_box, crop_to_photo, warp_image

WEIGHTS = Path(__file__).with_name("locator.npz")
FORMAT = 1
STRIDE = 8  # stage 1's grid: one cell per 8 x 8 input pixels
PAD_VALUE = 128  # the letterbox's grey (uint8), 0 after `to_tensor`'s normalisation


@dataclass(frozen=True)
class LocatorSpec:
    """What rebuilds the two networks: input sides in pixels and the backbone's channel widths."""

    box_input: int = 96
    landmark_input: int = 128
    widths: tuple[int, int, int, int] = (16, 32, 64, 128)

    def as_dict(self) -> dict:
        return {"box_input": self.box_input, "landmark_input": self.landmark_input, "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, d: dict) -> LocatorSpec:
        return cls(int(d["box_input"]), int(d["landmark_input"]), tuple(int(w) for w in d["widths"]))


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Backbone(nn.Module):
    """Input (B, 3, S, S) -> features at strides 8 (widths[2] channels) and 16 (widths[3])."""

    def __init__(self, widths: tuple[int, int, int, int]):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.to8 = nn.Sequential(_conv(3, w0, 2), _conv(w0, w1, 2), _conv(w1, w1), _conv(w1, w2, 2), _conv(w2, w2))
        self.to16 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f8 = self.to8(x)
        return f8, self.to16(f8)


class BoxNet(nn.Module):
    """Stage 1. (B, 3, S, S) -> (B, 4, S/8, S/8): per cell the centre's logit, its offset (x, y) from the cell's
    centre in cells, and log(box size / S)."""

    def __init__(self, spec: LocatorSpec):
        super().__init__()
        self.backbone = _Backbone(spec.widths)
        w2, w3 = spec.widths[2], spec.widths[3]
        self.head = nn.Sequential(_conv(w2 + w3, w2), nn.Conv2d(w2, 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f8, f16 = self.backbone(x)
        up = nn.functional.interpolate(f16, scale_factor=2.0, mode="nearest")
        return self.head(torch.cat([f8, up], dim=1))


class LandmarkNet(nn.Module):
    """Stage 2. (B, 3, S, S) crop -> (B, 68, 2): landmark positions in the crop as crop pixels / S - 0.5."""

    def __init__(self, spec: LocatorSpec):
        super().__init__()
        self.backbone = _Backbone(spec.widths)
        w3 = spec.widths[3]
        self.tail = _conv(w3, w3, 2)
        cells = (spec.landmark_input // 32) ** 2
        self.out = nn.Linear(w3 * cells, 136)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, f16 = self.backbone(x)
        return self.out(self.tail(f16).flatten(1)).view(-1, 68, 2)


def _fused(net: nn.Module) -> nn.Module:
    """The network in eval mode with each batch norm folded into the convolution before it (same answers, about
    a third less time on a CPU)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = net.eval()
    for block in net.modules():
        if isinstance(block, nn.Sequential) and len(block) == 3 and isinstance(block[1], nn.BatchNorm2d):
            block[0], block[1] = fuse_conv_bn_eval(block[0], block[1]), nn.Identity()
    return net


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32, centred on the letterbox's grey."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return (x - PAD_VALUE) / 64.0


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo (H, W, 3) uint8 shrunk (area-averaged) to `size` on its long side at the top-left of a grey
    square: ((size, size, 3) uint8, scale (2,) photo pixels -> letterbox pixels per axis)."""
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * size / max(h, w))), max(1, round(h * size / max(h, w)))
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    out[:nh, :nw] = cv2.resize(np.ascontiguousarray(image[..., :3]), (nw, nh), interpolation=cv2.INTER_AREA)
    return out, np.array([nw / w, nh / h])


def decode_boxes(grid: np.ndarray, size: int) -> tuple[np.ndarray, float, float]:
    """Stage 1's best cell: (centre (2,) in input pixels, box size in input pixels, score in [0, 1]).
    grid: (4, G, G) one image's output."""
    heat = grid[0]
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    centre = (np.array([col, row], np.float64) + 0.5 + grid[1:3, row, col]) * STRIDE
    return centre, float(np.exp(grid[3, row, col]) * size), float(1.0 / (1.0 + np.exp(-heat[row, col])))


@dataclass(frozen=True)
class Located:
    """A face the locator found: its 68 landmarks (68, 2) float32 in photo pixels and stage 1's score."""

    landmarks: np.ndarray
    score: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the landmarks' bounding box in photo pixels."""
        lo, hi = self.landmarks.min(axis=0), self.landmarks.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


class Locator:
    """The two stages, loaded (`Locator.load()`: the shipped weights) and ready: `locate(photo)`."""

    def __init__(self, spec: LocatorSpec, box_net: BoxNet, landmark_net: LandmarkNet, meta: dict | None = None):
        self.spec, self.box_net, self.landmark_net = spec, _fused(box_net), _fused(landmark_net)
        self.meta = dict(meta or {})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Locator:
        """The locator stored at `path` (default: the weights shipped in the package)."""
        return _load(str(path or WEIGHTS))

    @torch.no_grad()
    def find_box(self, image: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Stage 1 on an (H, W, 3) uint8 photo: (landmark box centre (2,) and size in photo pixels, score)."""
        boxed, scale = letterbox(image, self.spec.box_input)
        grid = self.box_net(to_tensor(boxed[None]))[0].numpy()
        centre, size, score = decode_boxes(grid, self.spec.box_input)
        return centre / scale, size / float(np.sqrt(scale.prod())), score

    @torch.no_grad()
    def landmarks_in(self, image: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Stage 2 on training's crop `a` (3, 3) of the photo: the 68 landmarks (68, 2) float64 in photo pixels."""
        s = self.spec.landmark_input
        crop = warp_image(np.ascontiguousarray(image[..., :3]), a, s, interpolation=cv2.INTER_AREA
                          if np.sqrt(abs(np.linalg.det(a[:2, :2]))) < 1.0 else cv2.INTER_LINEAR)
        out = self.landmark_net(to_tensor(crop[None]))[0].numpy().astype(np.float64)
        return crop_to_photo((out + 0.5) * s, a)

    def locate(self, image: np.ndarray, passes: int = 3, min_score: float = 0.3) -> Located | None:
        """The face in an (H, W, 3) uint8 photo, or None when stage 1's score is below `min_score`. Stage 2 runs
        `passes` times, each on the training crop of the previous answer (the first on stage 1's box)."""
        centre, size, score = self.find_box(image)
        if score < min_score:
            return None
        a = crop_from_landmark_box(centre, size, self.spec.landmark_input)
        for _ in range(passes):
            landmarks = self.landmarks_in(image, a)
            a = crop_from_landmark_box((landmarks.min(0) + landmarks.max(0)) / 2.0, float(np.ptp(landmarks, 0).sum())
                                       / 2.0, self.spec.landmark_input)
        return Located(landmarks.astype(np.float32), score)


def save_locator(path: str | os.PathLike, spec: LocatorSpec, box_net: BoxNet, landmark_net: LandmarkNet,
                 meta: dict) -> Path:
    """Write both networks' weights (float16; batch-norm statistics float32) and `meta` as one .npz, atomically
    and byte-reproducibly (no timestamps in the archive)."""
    import io
    import zipfile

    from frontside.io import write_atomic

    arrays = {"spec": json.dumps(spec.as_dict()), "meta": json.dumps(meta, sort_keys=True), "format": str(FORMAT)}
    for prefix, net in (("box", box_net), ("landmark", landmark_net)):
        for key, value in net.state_dict().items():
            value = value.detach().cpu().numpy()
            floating = value.dtype.kind == "f" and "running" not in key
            arrays[f"{prefix}/{key}"] = value.astype(np.float16) if floating else value
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            archive.writestr(entry, member.getvalue())
    return Path(write_atomic(path, buffer.getvalue()))


@functools.cache
def _load(path: str) -> Locator:
    spec, box_net, landmark_net, meta = read_networks(path)
    return Locator(spec, box_net, landmark_net, meta)


def read_networks(path: str | os.PathLike) -> tuple[LocatorSpec, BoxNet, LandmarkNet, dict]:
    """(spec, box net, landmark net, meta) as stored at `path`: the networks with their batch norms, unfused
    (trainable: what a fine-tune starts from; `Locator` fuses them for inference). DataIntegrityError naming the
    file and field when it is missing, unreadable or does not fit its spec."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
    except FileNotFoundError:
        raise DataIntegrityError(f"{path}: the locator's weights are missing (reinstall frontside, or run "
                                 "benchmarks/train_locator.py)") from None
    except (OSError, ValueError) as exc:
        raise DataIntegrityError(f"{path}: not a readable locator file ({exc})") from None
    if str(arrays.get("format")) != str(FORMAT):
        raise DataIntegrityError(f"{path}: field 'format' is {arrays.get('format')}, this version reads {FORMAT}")
    spec = LocatorSpec.from_dict(json.loads(str(arrays["spec"])))
    nets = {"box": BoxNet(spec), "landmark": LandmarkNet(spec)}
    for prefix, net in nets.items():
        state = {k.split("/", 1)[1]: torch.from_numpy(v.astype(np.float32) if v.dtype == np.float16 else v)
                 for k, v in arrays.items() if k.startswith(prefix + "/")}
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise DataIntegrityError(f"{path}: field '{prefix}' does not fit field 'spec' "
                                     f"({str(exc).splitlines()[0]})") from None
    return spec, nets["box"], nets["landmark"], json.loads(str(arrays["meta"]))
