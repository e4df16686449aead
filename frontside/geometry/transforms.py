"""Rotations and the rendering chain WCS -> ECS -> CSS -> VCS (thesis eq. 2.8, 2.9, 4.1).

Frames: world and eye frames are right-handed, x right, y up, z toward the viewer (OpenGL). The canonical
screen space (CSS) is the cube [-1, 1]^3 with depth -1 at the near plane. The viewport frame (VCS) has x right
and y *down* in pixels, pixel centres at +0.5, so CSS x = -1 is the left edge of pixel column 0.
"""

from __future__ import annotations

import numpy as np


def similarity_directions(points: np.ndarray) -> np.ndarray:
    """(3P, 7) float64: the first-order motions of points (P, 3) (rows x0, y0, z0, x1, ...) under a translation
    along x, y, z, a rotation about x, y, z through the origin, and a scaling about the origin: pass centred points
    for motions about their centre. What a similarity alignment (every NME's) can take away."""
    points = np.asarray(points, np.float64)
    motions = ([np.tile(e, (len(points), 1)) for e in np.eye(3)] + [np.cross(e, points) for e in np.eye(3)]
               + [points])
    return np.stack([d.ravel() for d in motions], 1)


def rotation_matrix(yaw: float, pitch: float, roll: float, degrees: bool = True) -> np.ndarray:
    """(3, 3) float64 rotation R = Rz(roll) @ Ry(yaw) @ Rx(pitch): pitch is applied first, roll last.

    Each elementary rotation is right-handed about a world axis: +yaw (about y) turns a nose at +z toward +x
    (the viewer's right), +pitch (about x) tips it toward -y (down), +roll (about z) is counter-clockwise on screen.
    This is face3d's `angle2matrix` order, so 300W-LP's (pitch, yaw, roll) map onto it directly.
    """
    if degrees:
        yaw, pitch, roll = np.deg2rad([yaw, pitch, roll])
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def angles_from_matrix(rotation: np.ndarray, degrees: bool = True) -> tuple[float, float, float]:
    """(yaw, pitch, roll) with `rotation_matrix(yaw, pitch, roll) == rotation`; yaw in [-90, 90] degrees."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    if abs(r[2, 0]) < 1.0 - 1e-9:
        pitch = np.arctan2(r[2, 1], r[2, 2])
        roll = np.arctan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: only pitch - roll (or pitch + roll) is defined; put it all in pitch
        roll = 0.0
        pitch = np.arctan2(-r[1, 2], r[1, 1])
    out = (yaw, pitch, roll)
    return tuple(float(np.rad2deg(a)) if degrees else float(a) for a in out)  # type: ignore[return-value]


def wcs_to_ecs(scale: float, rotation: np.ndarray, translation) -> np.ndarray:
    """(4, 4) M_WCS->ECS: uniform scale, then rotation (3, 3), then translation (3,)."""
    m = np.eye(4)
    m[:3, :3] = float(scale) * np.asarray(rotation, dtype=np.float64)
    m[:3, 3] = np.asarray(translation, dtype=np.float64)
    return m


def frustum(left: float, right: float, bottom: float, top: float, near: float, far: float,
            convention: str = "opengl") -> np.ndarray:
    """(4, 4) M_ECS->CSS for a general, possibly asymmetric viewing frustum (eq. 2.8).

    `near`, `far` > 0 are distances; l, r, b, t are the frustum's extent on the near plane. Depth maps
    near -> -1 and far -> +1 in CSS in both conventions.

    - "opengl": the camera looks down -z (right-handed eye frame), w = -z_e.
    - "lefthanded": the camera looks down +z (Theoharis et al.'s eye frame), w = +z_e.

    The two give the same pixels when the left-handed one is fed z-mirrored eye coordinates. The thesis's
    printed eq. 2.8 mixes them: its w row is the left-handed +1 but its third row carries OpenGL's signs,
    which maps near to +1 and far to -1 (reversed depth) in a left-handed frame; we use consistent forms.
    """
    rl, tb, fn = right - left, top - bottom, far - near
    m = np.zeros((4, 4))
    m[0, 0] = 2 * near / rl
    m[1, 1] = 2 * near / tb
    if convention == "opengl":
        m[0, 2] = (right + left) / rl
        m[1, 2] = (top + bottom) / tb
        m[2, 2] = -(far + near) / fn
        m[2, 3] = -2 * far * near / fn
        m[3, 2] = -1.0
    elif convention == "lefthanded":
        m[0, 2] = -(right + left) / rl
        m[1, 2] = -(top + bottom) / tb
        m[2, 2] = (far + near) / fn
        m[2, 3] = -2 * far * near / fn
        m[3, 2] = 1.0
    else:
        raise ValueError(f"frustum convention must be 'opengl' or 'lefthanded', not {convention!r}")
    return m


def perspective_fov(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """(4, 4) symmetric OpenGL frustum from a vertical field of view and width/height aspect."""
    top = near * np.tan(np.deg2rad(fov_y_deg) / 2.0)
    right = top * aspect
    return frustum(-right, right, -top, top, near, far)


def orthographic(left: float, right: float, bottom: float, top: float, near: float, far: float) -> np.ndarray:
    """(4, 4) OpenGL orthographic M_ECS->CSS (camera looks down -z; near -> -1, far -> +1)."""
    m = np.eye(4)
    m[0, 0] = 2 / (right - left)
    m[1, 1] = 2 / (top - bottom)
    m[2, 2] = -2 / (far - near)
    m[0, 3] = -(right + left) / (right - left)
    m[1, 3] = -(top + bottom) / (top - bottom)
    m[2, 3] = -(far + near) / (far - near)
    return m


def viewport(width: int, height: int, zmin: float = 0.0, zmax: float = 1.0) -> np.ndarray:
    """(4, 4) M_CSS->VCS (eq. 2.9) for an image whose rows grow downward.

    Eq. 2.9 with (x_min, x_max) = (0, width), (y_min, y_max) = (height, 0): CSS y = +1 is the top edge of
    row 0, and pixel centres fall at +0.5. Depth maps to [zmin, zmax].
    """
    return np.array([
        [width / 2.0, 0.0, 0.0, width / 2.0],
        [0.0, -height / 2.0, 0.0, height / 2.0],
        [0.0, 0.0, (zmax - zmin) / 2.0, (zmax + zmin) / 2.0],
        [0.0, 0.0, 0.0, 1.0],
    ])


def compose(*matrices: np.ndarray) -> np.ndarray:
    """Product of (4, 4) matrices, left to right: compose(M_css_vcs, M_ecs_css, M_wcs_ecs) is eq. 4.1."""
    out = np.eye(4)
    for m in matrices:
        out = out @ np.asarray(m, dtype=np.float64)
    return out


def project(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 3) float64: points (N, 3) through a (4, 4) matrix, with the homogeneous divide."""
    p = np.asarray(points, dtype=np.float64)
    h = p @ matrix[:3, :3].T + matrix[:3, 3]
    w = p @ matrix[3, :3] + matrix[3, 3]
    return h / w[:, None]


def image_frame_vertices(points: np.ndarray, wcs_to_ecs_m: np.ndarray, ecs_to_css_m: np.ndarray,
                         css_to_vcs_m: np.ndarray, crop: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) float32 vertices in the image frame: x, y by eq. 4.1, z = depth toward the camera in pixels.

    CSS depth is non-linear under perspective, so z is taken from the eye frame instead, scaled by the
    pixels-per-unit at the depth of the points' centroid; x, y and z then share units, as PRN's maps need.
    crop: (3, 3) 2-D similarity applied to the image's x, y (z scaled by its scale), or None.

    Eq. 4.1 is composed once, the crop folded in (an affine map of x/w, y/w is one of x, y, w), and applied
    with the eye depth in one (N, 3) x (3, 4) product: no chain of (N, 3) temporaries.
    """
    to_image = css_to_vcs_m @ ecs_to_css_m @ wcs_to_ecs_m
    scale = 1.0
    if crop is not None:
        crop = np.asarray(crop, np.float64)
        folded = np.eye(4)
        folded[:2, :2], folded[:2, 3] = crop[:2, :2], crop[:2, 2]
        to_image = folded @ to_image
        scale = float(np.sqrt(abs(np.linalg.det(crop[:2, :2]))))
    rows = np.stack([to_image[0], to_image[1], to_image[3], wcs_to_ecs_m[2]])  # x w, y w, w, eye z
    h = np.asarray(points, dtype=np.float64) @ rows[:, :3].T + rows[:, 3]
    is_perspective = abs(ecs_to_css_m[3, 2]) > 0
    pixels_per_unit = abs(css_to_vcs_m[0, 0] * ecs_to_css_m[0, 0]) * scale
    if is_perspective:
        pixels_per_unit /= max(abs(h[:, 3].mean()), 1e-12)  # at the centroid's depth
    # OpenGL eye frames (w = -z_e, and orthographic) look down -z, so nearer means larger z_e;
    # the left-handed frame (w = +z_e) looks down +z.
    toward_camera = pixels_per_unit if ecs_to_css_m[3, 2] <= 0 else -pixels_per_unit
    out = np.empty((len(h), 3), np.float32)
    np.divide(h[:, 0], h[:, 2], out=out[:, 0], casting="unsafe")
    np.divide(h[:, 1], h[:, 2], out=out[:, 1], casting="unsafe")
    np.multiply(h[:, 3], toward_camera, out=out[:, 2], casting="unsafe")
    return out
