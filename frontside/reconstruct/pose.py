"""Head pose of a photo from the predicted 3D landmarks: the similarity that best maps a reference face's 68
landmarks (its model's world frame: x right, y up, z toward the viewer) onto them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frontside.geometry.icp import best_fit_transform
from frontside.geometry.transforms import angles_from_matrix

_FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0])  # image frame (y down) <-> a right-handed frame (y up)


@dataclass(frozen=True)
class HeadPose:
    """yaw, pitch, roll in degrees (`renderers.view.Pose`'s convention); `world_to_image` (4, 4): the reference
    face's world coordinates to the image frame of the landmarks it was fitted to (x, y pixels, z toward the
    camera), scale included."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    world_to_image: np.ndarray

    def as_dict(self) -> dict:
        return {"yaw": self.yaw, "pitch": self.pitch, "roll": self.roll, "scale": self.scale,
                "world_to_image": np.round(self.world_to_image, 6).tolist()}


def head_pose(reference_landmarks: np.ndarray, image_landmarks: np.ndarray) -> HeadPose:
    """Pose from reference landmarks (68, 3) in a face model's world frame and the same landmarks (68, 3) in an
    image frame (x right, y down, z toward the camera)."""
    fit = best_fit_transform(reference_landmarks, np.asarray(image_landmarks, np.float64) * [1.0, -1.0, 1.0],
                             scale=True)
    scale = float(np.cbrt(abs(np.linalg.det(fit[:3, :3]))))
    yaw, pitch, roll = angles_from_matrix(fit[:3, :3] / max(scale, 1e-12))
    return HeadPose(yaw, pitch, roll, scale, _FLIP_Y @ fit)


def in_photo(pose: HeadPose, crop_to_photo: np.ndarray) -> HeadPose:
    """The same pose with `world_to_image` ending in the photo's pixels; crop_to_photo (3, 3) is the inverse of
    the photo -> crop similarity (z scales with it)."""
    a = np.eye(4)
    a[:2, :2], a[:2, 3] = crop_to_photo[:2, :2], crop_to_photo[:2, 2]
    a[2, 2] = np.sqrt(abs(np.linalg.det(crop_to_photo[:2, :2])))
    return HeadPose(pose.yaw, pose.pitch, pose.roll, pose.scale * a[2, 2], a @ pose.world_to_image)
