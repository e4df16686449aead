"""Head pose of a photo: the similarity that best maps a reference face's 68 landmarks (its model's world frame:
x right, y up, z toward the viewer) onto the photo's landmarks, in 3D (`head_pose`: the front photo's landmarks
from the predicted position map) or in 2D under a scaled orthographic camera (`head_pose_2d`: the side photo's
landmarks from the locator)."""

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
    return HeadPose(*head_angles(fit[:3, :3] / max(scale, 1e-12)), scale, _FLIP_Y @ fit)


def head_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation (3, 3), with |pitch| <= 90 (a head does not tip over), so a
    side view turned past 90 degrees keeps its yaw (100, not 80 with pitch and roll 180)."""
    yaw, pitch, roll = angles_from_matrix(rotation)
    if abs(pitch) > 90.0:
        yaw, pitch, roll = np.copysign(180.0, yaw) - yaw, pitch - np.copysign(180.0, pitch), \
            roll - np.copysign(180.0, roll)
    return float(yaw), float(pitch), float(roll)


def head_pose_2d(reference_landmarks: np.ndarray, image_xy: np.ndarray) -> HeadPose:
    """Pose from reference landmarks (68, 3) in a face model's world frame and the same landmarks (68, 2) in a
    photo (x right, y down): the scaled orthographic projection s * R (x, y rows) + t that fits best (an affine fit
    made a rotation, then refined by least squares). `world_to_image`'s z row is s * R's (depth up to a shift)."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    x = np.asarray(reference_landmarks, np.float64)
    u = np.asarray(image_xy, np.float64)[:, :2] * [1.0, -1.0]  # y up, as the reference
    centred = x - x.mean(axis=0)
    affine, *_ = np.linalg.lstsq(centred, u - u.mean(axis=0), rcond=None)  # (3, 2): u ~ centred @ affine
    scale0 = float(np.linalg.norm(affine, axis=0).mean())
    r1, r2 = (affine / np.maximum(np.linalg.norm(affine, axis=0), 1e-12)).T
    u_svd, _, vt = np.linalg.svd(np.stack([r1, r2, np.cross(r1, r2)]))
    rotation0 = u_svd @ vt
    if np.linalg.det(rotation0) < 0:
        rotation0 = u_svd @ np.diag([1.0, 1.0, -1.0]) @ vt

    def residuals(p: np.ndarray) -> np.ndarray:
        r = Rotation.from_rotvec(p[:3]).as_matrix()
        return (np.exp(p[3]) * centred @ r[:2].T + p[4:6] - u).ravel()

    start = np.concatenate([Rotation.from_matrix(rotation0).as_rotvec(), [np.log(max(scale0, 1e-9))],
                            u.mean(axis=0)])
    p = least_squares(residuals, start).x
    rotation, scale = Rotation.from_rotvec(p[:3]).as_matrix(), float(np.exp(p[3]))
    fit = np.eye(4)
    fit[:3, :3] = scale * rotation
    fit[:2, 3] = p[4:6] - scale * rotation[:2] @ x.mean(axis=0)
    return HeadPose(*head_angles(rotation), scale, _FLIP_Y @ fit)


def in_photo(pose: HeadPose, crop_to_photo: np.ndarray) -> HeadPose:
    """The same pose with `world_to_image` ending in the photo's pixels; crop_to_photo (3, 3) is the inverse of
    the photo -> crop similarity (z scales with it)."""
    a = np.eye(4)
    a[:2, :2], a[:2, 3] = crop_to_photo[:2, :2], crop_to_photo[:2, 2]
    a[2, 2] = np.sqrt(abs(np.linalg.det(crop_to_photo[:2, :2])))
    return HeadPose(pose.yaw, pose.pitch, pose.roll, pose.scale * a[2, 2], a @ pose.world_to_image)
