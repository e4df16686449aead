"""The exact camera of one view: eq. 4.1's three matrices plus the crop, and the framing every renderer shares.

A `Camera` is what a row records of each view, so a user can re-project anything: a world point p lands at
crop pixel `crop @ [x, y, 1]` where (x, y) = project(p, M_CSS->VCS M_ECS->CSS M_WCS->ECS) (pixel centres at
+0.5, y down). Renderers that take a `Camera` draw straight into the crop frame (the crop folded into the
projection), so the picture is never resampled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from frontside.facemodel.model import FaceMesh
from frontside.geometry import transforms
from frontside.geometry.bounds import bounds
from frontside.renderers.lighting import Lighting, sample_lighting
from frontside.renderers.view import Pose, RenderedView


@dataclass(frozen=True)
class Camera:
    """world_to_eye (M_WCS->ECS), eye_to_clip (M_ECS->CSS), clip_to_image (M_CSS->VCS of the full `size` x `size`
    render): (4, 4) float64. crop: (3, 3) float64 similarity from full-render pixels to the `size` x `size` crop
    (the identity when the view is not cropped)."""

    world_to_eye: np.ndarray
    eye_to_clip: np.ndarray
    clip_to_image: np.ndarray
    size: int
    crop: np.ndarray = field(default_factory=lambda: np.eye(3))

    def with_crop(self, crop: np.ndarray) -> Camera:
        return Camera(self.world_to_eye, self.eye_to_clip, self.clip_to_image, self.size,
                      np.asarray(crop, np.float64))

    @property
    def crop_4x4(self) -> np.ndarray:
        """(4, 4) the crop acting on VCS x, y (z untouched)."""
        m = np.eye(4)
        m[:2, :2] = self.crop[:2, :2]
        m[:2, 3] = self.crop[:2, 2]
        return m

    @property
    def world_to_vcs(self) -> np.ndarray:
        """(4, 4) eq. 4.1 followed by the crop: world points to crop pixels (x, y) with `transforms.project`."""
        return transforms.compose(self.crop_4x4, self.clip_to_image, self.eye_to_clip, self.world_to_eye)

    @property
    def cropped_eye_to_clip(self) -> np.ndarray:
        """(4, 4) a projection whose viewport image is the crop: inv(V) . crop . V . M_ECS->CSS (an affine map of
        clip x, y, so it commutes with the perspective divide)."""
        v = self.clip_to_image
        return np.linalg.inv(v) @ self.crop_4x4 @ v @ self.eye_to_clip

    def image_vertices(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) float32: world points (N, 3) in the crop frame; z toward the camera in crop pixels (scaled by
        the crop's scale, not shifted: callers shift z to the convention they need)."""
        return transforms.image_frame_vertices(points, self.world_to_eye, self.eye_to_clip, self.clip_to_image,
                                               self.crop)


def frame_face(face: FaceMesh, pose: Pose, size: int, projection: str = "perspective", fov_deg: float = 12.0,
               fill: float = 0.75) -> Camera:
    """The camera that shows `face` posed by `pose` in a `size` x `size` image, uncropped.

    The camera looks down -z at the face's centre; the face is rotated by R = rotation_matrix(yaw, pitch, roll)
    about its centre and framed so its largest extent fills `fill` of the image (times `pose.scale`);
    `pose.shift` moves the face (not the camera), so the frustum stays symmetric.
    """
    if projection not in ("perspective", "orthographic"):
        raise ValueError(f"projection must be 'perspective' or 'orthographic', not {projection!r}")
    lo, hi = bounds(face.vertices)
    centre, extent = (lo + hi) / 2.0, float(np.max(hi - lo))
    rotation = transforms.rotation_matrix(pose.yaw, pose.pitch, pose.roll)
    half_view = extent / 2.0 / (fill * pose.scale)  # world half-size of the image at the face's centre
    shift = np.array([pose.shift[0], -pose.shift[1]]) * 2.0 * half_view
    if projection == "perspective":
        distance = half_view / np.tan(np.deg2rad(fov_deg) / 2.0)
        eye_to_clip = transforms.perspective_fov(fov_deg, 1.0, distance - extent, distance + extent)
    else:
        distance = 2.0 * extent
        eye_to_clip = transforms.orthographic(-half_view, half_view, -half_view, half_view,
                                              distance - extent, distance + extent)
    translation = -rotation @ centre + np.array([shift[0], shift[1], -distance])
    world_to_eye = transforms.wcs_to_ecs(1.0, rotation, translation)
    return Camera(world_to_eye, eye_to_clip, transforms.viewport(size, size), int(size))


@dataclass
class FramedRenderer:
    """What pyrender and the raster renderer share: the framing (`frame_face`) and `render` on top of their
    `render_views(face, [(camera, lighting), ...]) -> [(S, S, 4) uint8 premultiplied RGBA, ...]`.

    projection: "perspective" (a portrait lens of `fov_deg`) or "orthographic".
    fill: the fraction of the image the face's largest extent covers at pose.scale = 1.
    """

    projection: str = "perspective"
    fov_deg: float = 12.0
    fill: float = 0.75

    def __post_init__(self) -> None:
        if self.projection not in ("perspective", "orthographic"):
            raise ValueError(f"projection must be 'perspective' or 'orthographic', not {self.projection!r}")

    def camera(self, face: FaceMesh, pose: Pose, size: int, fov_deg: float | None = None) -> Camera:
        """The uncropped camera of this face and pose (crop it with `Camera.with_crop`); fov_deg: this view's
        field of view in place of the renderer's (the face is framed alike; only the perspective changes)."""
        return frame_face(face, pose, size, self.projection, self.fov_deg if fov_deg is None else fov_deg, self.fill)

    def matrices(self, face: FaceMesh, pose: Pose, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(M_WCS->ECS, M_ECS->CSS, M_CSS->VCS) for this face and pose."""
        camera = self.camera(face, pose, size)
        return camera.world_to_eye, camera.eye_to_clip, camera.clip_to_image

    def render_views(self, face: FaceMesh, views: list[tuple[Camera, Lighting]],
                     pixels: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """[(S, S, 4) uint8 RGBA premultiplied] per (camera, lighting); pixels: each view's
        `camera.image_vertices(face.vertices)` when the caller has them (a renderer may use them)."""
        raise NotImplementedError

    def render(self, face: FaceMesh, pose: Pose, size: int, rng: np.random.Generator) -> RenderedView:
        """One uncropped view, lit by `sample_lighting(rng)`; vertices in its image frame (z not shifted)."""
        camera = self.camera(face, pose, size)
        image = self.render_views(face, [(camera, sample_lighting(rng))])[0]
        return RenderedView(image=image, vertices=camera.image_vertices(face.vertices),
                            world_to_vcs=camera.world_to_vcs, pose=pose, renderer=self.name)
