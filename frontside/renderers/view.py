"""The record every renderer returns, and the pose it was asked for.

This is the joint between renderers and everything after them (crop, posmap, background, shard):
the FaceGen driver, the pyrender fallback and the 300W-LP reader all produce a `RenderedView`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pose:
    """Head pose of one view, in degrees, applied to the model as R = Rz(roll) @ Ry(yaw) @ Rx(pitch).

    Right-handed about the world axes (x right, y up, z toward the camera):
    positive yaw turns the nose toward the viewer's right (+x), positive pitch tips the nose down,
    positive roll turns the face counter-clockwise as the viewer sees it.
    scale: multiplies the size the renderer would give the face by default (1.0 = nominal framing).
    shift: (dx, dy) offset of the face centre as a fraction of the image size (x right, y down).
    """

    yaw: float
    pitch: float = 0.0
    roll: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class RenderedView:
    """One rendered image of a face and the face's vertices in that image's frame.

    image:    (H, W, 4) uint8 RGBA; alpha is the face's coverage (255 inside the face).
    vertices: (N, 3) float32 in the viewport frame (VCS): x right and y down in pixels, pixel centres at
              +0.5 (the centre of the top-left pixel is (0.5, 0.5)); z toward the camera (larger = nearer),
              in the same pixel units as x, y (depth scaled by the pixels-per-unit at the face's centre),
              any offset. The posmap step shifts z so its minimum is 0.
    world_to_vcs: (4, 4) float64, eq. 4.1 as used: M_CSS→VCS · M_ECS→CSS · M_WCS→ECS.
    pose:     the pose that was rendered.
    renderer: "pyrender", "facegen", "300wlp", ...
    """

    image: np.ndarray
    vertices: np.ndarray
    world_to_vcs: np.ndarray
    pose: Pose
    renderer: str

    @property
    def alpha(self) -> np.ndarray:
        """(H, W) uint8 coverage."""
        return self.image[..., 3]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.image.shape[0]), int(self.image.shape[1])
