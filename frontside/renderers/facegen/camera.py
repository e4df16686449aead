"""FaceGen's saved camera (`<view>_cam.xml`) and pose (`<view>_pose.xml`) -> the matrices of eq. 4.1.

In every layout the saved modelview maps the (HCS-rotated) mesh into OpenGL's eye frame, OECS: x right, y up,
the camera looking down -z, so a face in view has z_e < 0 (FaceGenBaseLibrary: `Camera::modelview` is
"Transform world to OECS"; `CameraParams::camera` puts the model centre at z = -zCentre). Both frustum encodings
are therefore OpenGL frustums (w = -z_e). Three layouts of the camera file exist, detected from the file itself:
(a) modelview as an affine `linear` (9 values, row-major) + `translation`; frustum as six values
    l, r, b, t, n, f (the 2015-2017 library's `FgVect6D frustum`);
(b) affine modelview; frustum as `nearHalfWidth`, `nearHalfHeight`, `nearDist`, `farDist` (the 2018-2020
    library's `Frustum` struct: a symmetric frustum, l = -nearHalfWidth ... f = farDist). FaceGen's
    `Frustum::asD3dProjection` (w = +z) is for Direct3D view space, which FaceGen reaches by mirroring z *after*
    the modelview; it is never applied to the saved modelview directly, so we do not either;
(c) modelview as a similarity `scale`, quaternion `rot` (`real`, `imag`), `trans` (2021+ library, `SimilarityD`);
    either frustum.
`rotateToHcs` (pose file, or camera file) rotates the mesh into FaceGen's head frame before the modelview
(FgCmdRender.cpp applies it to the mesh first); it is applied when it is not the identity.
See docs/facegen.md for what was verified in which library file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from frontside.errors import InputFormatError
from frontside.geometry import transforms
from frontside.renderers.facegen import xml


@dataclass(frozen=True)
class CameraMatrices:
    """M_WCS->ECS (rotateToHcs included), M_ECS->CSS, M_CSS->VCS and their product (eq. 4.1), (4, 4) each."""

    wcs_to_ecs: np.ndarray
    ecs_to_css: np.ndarray
    css_to_vcs: np.ndarray
    image_size: tuple[int, int]  # (width, height)
    layout: str

    @property
    def world_to_vcs(self) -> np.ndarray:
        return transforms.compose(self.css_to_vcs, self.ecs_to_css, self.wcs_to_ecs)

    def image_vertices(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) float32 vertices in the image frame (x, y pixels, z toward the camera)."""
        return transforms.image_frame_vertices(points, self.wcs_to_ecs, self.ecs_to_css, self.css_to_vcs)

    def clip_w(self, points: np.ndarray) -> np.ndarray:
        """(N,) float64 homogeneous w of points (N, 3) after M_ECS->CSS M_WCS->ECS: the distance in front of the
        camera under perspective (w = -z_e in OECS). w <= 0 means behind the camera, where the divide mirrors the
        point through the image centre instead of hiding it."""
        m = self.ecs_to_css @ self.wcs_to_ecs
        return np.asarray(points, dtype=np.float64) @ m[3, :3] + m[3, 3]


def quaternion_matrix(real: float, imag: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of the quaternion (real, imag); normalised first, as FaceGen does."""
    q = np.array([real, *imag], dtype=np.float64)
    norm = np.linalg.norm(q)
    if norm == 0:
        raise ValueError("zero quaternion")
    w, x, y, z = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def _quaternion(root, tag: str, path) -> np.ndarray:
    real = xml.number(root, f"{tag}/real", path)
    imag = xml.vector(root, f"{tag}/imag", path, 3)
    try:
        return quaternion_matrix(real, imag)
    except ValueError:
        raise InputFormatError(path, tag, "quaternion has zero magnitude") from None


def _modelview(root, path) -> tuple[np.ndarray, str]:
    if xml.has(root, "modelview/linear"):
        m = np.eye(4)
        m[:3, :3] = xml.vector(root, "modelview/linear", path, 9).reshape(3, 3)
        m[:3, 3] = xml.vector(root, "modelview/translation", path, 3)
        return m, "affine"
    if xml.has(root, "modelview/rot"):
        scale = xml.number(root, "modelview/scale", path)
        rotation = _quaternion(root, "modelview/rot", path)
        return transforms.wcs_to_ecs(scale, rotation, xml.vector(root, "modelview/trans", path, 3)), "similarity"
    raise InputFormatError(path, "modelview", "neither linear+translation nor scale+rot+trans")


def _frustum(root, path) -> tuple[np.ndarray, str]:
    if xml.has(root, "frustum/nearHalfWidth"):
        hw = xml.number(root, "frustum/nearHalfWidth", path)
        hh = xml.number(root, "frustum/nearHalfHeight", path)
        near = xml.number(root, "frustum/nearDist", path)
        far = xml.number(root, "frustum/farDist", path)
        # The same OECS as layout (a): a symmetric OpenGL frustum, not FaceGen's Direct3D projection.
        return transforms.frustum(-hw, hw, -hh, hh, near, far, convention="opengl"), "halfsize"
    if xml.has(root, "frustum"):
        l, r, b, t, n, f = xml.vector(root, "frustum", path, 6)
        return transforms.frustum(l, r, b, t, n, f, convention="opengl"), "sixplanes"
    raise InputFormatError(path, "frustum", "element missing")


def parse_camera_xml(cam_path: str | os.PathLike, pose_path: str | os.PathLike | None = None,
                     image_size: tuple[int, int] | None = None) -> CameraMatrices:
    """Matrices from a saved camera file (any of the three layouts) and, when given, its pose file.

    image_size (width, height) comes from the camera file's `imagePixelSize` when present, else the argument.
    """
    root = xml.load(cam_path)
    modelview, mv_kind = _modelview(root, cam_path)
    projection, fr_kind = _frustum(root, cam_path)
    if xml.has(root, "imagePixelSize"):
        width, height = (int(v) for v in xml.vector(root, "imagePixelSize", cam_path, 2))
    elif image_size is not None:
        width, height = image_size
    else:
        raise InputFormatError(cam_path, "imagePixelSize", "element missing and no image size given")
    to_hcs = np.eye(4)
    for source, source_root in ((cam_path, root), (pose_path, xml.load(pose_path) if pose_path else None)):
        if source_root is not None and xml.has(source_root, "rotateToHcs"):
            rotation = _quaternion(source_root, "rotateToHcs", source)
            if not np.allclose(rotation, np.eye(3)):
                to_hcs[:3, :3] = rotation
    layout = {("affine", "sixplanes"): "a", ("affine", "halfsize"): "b"}.get((mv_kind, fr_kind), "c")
    return CameraMatrices(wcs_to_ecs=modelview @ to_hcs, ecs_to_css=projection,
                          css_to_vcs=transforms.viewport(width, height), image_size=(width, height), layout=layout)
