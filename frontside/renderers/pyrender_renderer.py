"""The fallback renderer: a face mesh drawn offscreen with pyrender (EGL by default, OSMesa when asked).

The camera looks down -z at the face's centre; the face is posed by R = rotation_matrix(yaw, pitch, roll) about
its centre and framed so its extent fills `fill` of the image (times `pose.scale`). Every matrix the render uses
is returned, so the vertices in the image frame match the pixels exactly.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from frontside.facemodel.model import FaceMesh
from frontside.geometry import transforms
from frontside.renderers.view import Pose, RenderedView

_local = threading.local()  # OpenGL contexts belong to a thread: one OffscreenRenderer per thread and size
# pyrender's EGL teardown calls eglTerminate on the display every context shares, so a renderer garbage-collected
# with its thread would break every other thread's renderer: keep them all alive for the process's lifetime.
_keep_alive: list = []


def _offscreen(size: int):
    import pyrender

    cache = getattr(_local, "renderers", None)
    if cache is None:
        cache = _local.renderers = {}
    if size not in cache:
        cache[size] = pyrender.OffscreenRenderer(size, size)
        _keep_alive.append(cache[size])
    return cache[size]


@dataclass
class PyrenderRenderer:
    """Renders `FaceMesh`es; `render(face, pose, size, rng) -> RenderedView`.

    projection: "perspective" (a portrait lens of `fov_deg`) or "orthographic".
    fill: the fraction of the image the face's largest extent covers at pose.scale = 1.
    platform: PyOpenGL platform, "egl" (headless GPU or Mesa) or "osmesa" (needs PyOpenGL >= 3.1.10).
    """

    projection: str = "perspective"
    fov_deg: float = 12.0
    fill: float = 0.75
    platform: str = "egl"
    name: str = "pyrender"

    def __post_init__(self) -> None:
        if self.projection not in ("perspective", "orthographic"):
            raise ValueError(f"projection must be 'perspective' or 'orthographic', not {self.projection!r}")
        os.environ.setdefault("PYOPENGL_PLATFORM", self.platform)

    def matrices(self, face: FaceMesh, pose: Pose, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(M_WCS->ECS, M_ECS->CSS, M_CSS->VCS) for this face and pose."""
        v = face.vertices.astype(np.float64)
        centre = (v.min(axis=0) + v.max(axis=0)) / 2.0
        extent = float(np.max(v.max(axis=0) - v.min(axis=0)))
        rotation = transforms.rotation_matrix(pose.yaw, pose.pitch, pose.roll)
        half_view = extent / 2.0 / (self.fill * pose.scale)  # world half-size of the image at the face's centre
        # shift is a fraction of the image: move the face, not the camera, so the frustum stays symmetric
        shift = np.array([pose.shift[0], -pose.shift[1]]) * 2.0 * half_view
        if self.projection == "perspective":
            distance = half_view / np.tan(np.deg2rad(self.fov_deg) / 2.0)
            translation = -rotation @ centre + np.array([shift[0], shift[1], -distance])
            near, far = distance - extent, distance + extent
            eye_to_css = transforms.perspective_fov(self.fov_deg, 1.0, near, far)
        else:
            distance = 2.0 * extent
            translation = -rotation @ centre + np.array([shift[0], shift[1], -distance])
            eye_to_css = transforms.orthographic(-half_view, half_view, -half_view, half_view,
                                                 distance - extent, distance + extent)
        world_to_eye = transforms.wcs_to_ecs(1.0, rotation, translation)
        return world_to_eye, eye_to_css, transforms.viewport(size, size)

    def render(self, face: FaceMesh, pose: Pose, size: int, rng: np.random.Generator) -> RenderedView:
        import pyrender
        import trimesh

        world_to_eye, eye_to_css, css_to_vcs = self.matrices(face, pose, size)
        colours = _plain_colours(face)  # appearance is the face's (its source draws it once for every view)
        mesh = trimesh.Trimesh(vertices=face.vertices, faces=face.triangles, vertex_colors=colours, process=False)
        mesh.apply_transform(world_to_eye)  # pose in the mesh, camera at the origin: no scene.bounds needed
        scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=np.full(3, rng.uniform(0.25, 0.45)))
        scene.add(_coloured_mesh(mesh))
        camera = _matrix_camera(eye_to_css)
        scene.add(camera, pose=np.eye(4))
        for _ in range(int(rng.integers(1, 3))):
            direction = rng.normal(size=3) * [0.6, 0.6, 0.2] + [0, 0.3, 1.0]
            scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=float(rng.uniform(0.8, 1.8))),
                      pose=_look_along(-direction))
        colour, _ = _offscreen(size).render(scene, flags=pyrender.RenderFlags.RGBA)
        vertices = transforms.image_frame_vertices(face.vertices, world_to_eye, eye_to_css, css_to_vcs)
        return RenderedView(image=np.ascontiguousarray(colour, dtype=np.uint8), vertices=vertices,
                            world_to_vcs=transforms.compose(css_to_vcs, eye_to_css, world_to_eye),
                            pose=pose, renderer=self.name)


def _coloured_mesh(mesh):
    """A pyrender mesh that shows `mesh`'s vertex colours under an opaque, double-sided skin material.

    pyrender reads vertex colours only when `from_trimesh` gets no material (it then makes a semi-transparent
    BLEND one), so the material is swapped in afterwards. Double-sided: at large yaw the open head surface
    shows its inside, which must still cover pixels.
    """
    import pyrender

    material = pyrender.MetallicRoughnessMaterial(doubleSided=True, metallicFactor=0.0, roughnessFactor=0.7,
                                                  baseColorFactor=[1.0, 1.0, 1.0, 1.0])
    coloured = pyrender.Mesh.from_trimesh(mesh, smooth=True)
    for primitive in coloured.primitives:
        if primitive.color_0 is None:
            raise ValueError("the mesh has no vertex colours to render")
        primitive.material = material
    return coloured


def _plain_colours(face: FaceMesh) -> np.ndarray:
    rgb = face.colours if face.colours is not None else np.full((len(face.vertices), 3), 0.75)
    return np.column_stack([np.clip(rgb, 0, 1) * 255, np.full(len(rgb), 255)]).astype(np.uint8)


def _matrix_camera(eye_to_css: np.ndarray):
    """A pyrender camera whose projection is exactly `eye_to_css` (so the pixels match what we return)."""
    import pyrender

    class _MatrixCamera(pyrender.camera.Camera):
        def get_projection_matrix(self, width=None, height=None):
            return eye_to_css

    return _MatrixCamera(znear=1e-3, zfar=1e6)


def _look_along(direction: np.ndarray) -> np.ndarray:
    """(4, 4) pose whose -z axis points along `direction` (pyrender lights shine down their -z)."""
    d = direction / np.linalg.norm(direction)
    z = -d
    x = np.cross([0.0, 1.0, 0.0], z)
    if np.linalg.norm(x) < 1e-6:
        x = np.array([1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, np.cross(z, x), z
    return pose
