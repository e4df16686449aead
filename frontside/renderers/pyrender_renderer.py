"""The OpenGL renderer: a face mesh drawn offscreen with pyrender (EGL by default, OSMesa when asked).

Each thread keeps one OpenGL context and one scene per image size. A face is uploaded once (world-frame
positions, normals, albedo) and every view of it only moves the mesh node (M_WCS->ECS), sets the projection
(the crop folded in: `Camera.cropped_eye_to_clip`) and swaps the lights. `reuse_scene=False` is the path before
that (a new scene and a new upload for every view), kept as the baseline `benchmarks/generate.py` measures.
The framing, lights and skin model are those of `RasterRenderer` (`camera.frame_face`, `lighting`, `shading`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from frontside.facemodel.model import FaceMesh
from frontside.renderers.camera import Camera, FramedRenderer
from frontside.renderers.lighting import Lighting
from frontside.renderers.shading import ROUGHNESS, vertex_normals

_local = threading.local()  # OpenGL contexts belong to a thread: one OffscreenRenderer and scene per thread and size
# pyrender's EGL teardown calls eglTerminate on the display every context shares, so a renderer garbage-collected
# with its thread would break every other thread's renderer: keep them all alive for the process's lifetime.
_keep_alive: list = []


class _Stage:
    """One thread's offscreen context and scene for one image size: a camera whose projection is set per view,
    the current face's mesh node, and the current view's light nodes."""

    def __init__(self, size: int) -> None:
        import pyrender

        self.offscreen = pyrender.OffscreenRenderer(size, size)
        _keep_alive.append(self.offscreen)
        self.camera = _matrix_camera()
        self.reset()

    def reset(self) -> None:
        """A fresh scene holding only the camera (the baseline path rebuilds it for every view)."""
        import pyrender

        self.scene = pyrender.Scene(bg_color=[0, 0, 0, 0])
        self.scene.add(self.camera, pose=np.eye(4))
        self.mesh_node, self.light_nodes = None, []

    def show(self, face: FaceMesh) -> None:
        """Put `face` in the scene in place of the previous one (uploaded at the next render)."""
        if self.mesh_node is not None:
            self.scene.remove_node(self.mesh_node)
        self.mesh_node = self.scene.add(_face_mesh(face))

    def draw(self, camera: Camera, lighting: Lighting) -> np.ndarray:
        import pyrender

        self.scene.set_pose(self.mesh_node, camera.world_to_eye)  # posed in the scene, camera at the origin
        self.camera.projection = camera.cropped_eye_to_clip
        self.scene.ambient_light = np.full(3, float(lighting.ambient))
        for node in self.light_nodes:
            self.scene.remove_node(node)
        self.light_nodes = [
            self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=float(intensity)),
                           pose=_look_along(-np.asarray(towards, np.float64)))
            for towards, intensity in zip(lighting.towards, lighting.intensities)]
        colour, _ = self.offscreen.render(self.scene, flags=pyrender.RenderFlags.RGBA)
        return np.ascontiguousarray(colour, dtype=np.uint8)


def _stage(size: int) -> _Stage:
    cache = getattr(_local, "stages", None)
    if cache is None:
        cache = _local.stages = {}
    if size not in cache:
        cache[size] = _Stage(size)
    return cache[size]


@dataclass
class PyrenderRenderer(FramedRenderer):
    """Renders `FaceMesh`es with OpenGL: `render(face, pose, size, rng) -> RenderedView` and
    `render_views(face, [(camera, lighting), ...])` (all views of a face from one upload).

    platform: PyOpenGL platform, "egl" (headless GPU or Mesa) or "osmesa" (needs PyOpenGL >= 3.1.10).
    reuse_scene: False rebuilds the scene and uploads the mesh for every view (the old path, for benchmarks).
    """

    platform: str = "egl"
    reuse_scene: bool = True
    name: str = "pyrender"

    def __post_init__(self) -> None:
        super().__post_init__()
        os.environ.setdefault("PYOPENGL_PLATFORM", self.platform)

    def render_views(self, face: FaceMesh, views: list[tuple[Camera, Lighting]],
                     pixels: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """[(S, S, 4) uint8 RGBA, RGB premultiplied by alpha (4x MSAA resolves against a transparent black
        background)] for each (camera, lighting), S = camera.size. (pixels: unused, OpenGL projects itself.)"""
        images, shown = [], set()
        for camera, lighting in views:
            stage = _stage(camera.size)
            if not self.reuse_scene:
                stage.reset()
            if not self.reuse_scene or camera.size not in shown:
                stage.show(face)
                shown.add(camera.size)
            images.append(stage.draw(camera, lighting))
        return images


def _face_mesh(face: FaceMesh):
    """A pyrender mesh of the face in its world frame: positions, smooth normals, albedo as vertex colours, under
    an opaque, double-sided white material (at large yaw the open head surface shows its inside, which must
    still cover pixels). pyrender multiplies the shaded light by the vertex colour (see `shading`)."""
    import pyrender

    n = len(face.vertices)
    albedo = np.clip(face.colours, 0, 1) if face.colours is not None else np.full((n, 3), 0.75)
    material = pyrender.MetallicRoughnessMaterial(doubleSided=True, metallicFactor=0.0, roughnessFactor=ROUGHNESS,
                                                  baseColorFactor=[1.0, 1.0, 1.0, 1.0])
    primitive = pyrender.Primitive(
        positions=np.ascontiguousarray(face.vertices, np.float32),
        normals=vertex_normals(face.vertices, face.triangles),
        color_0=np.column_stack([albedo, np.ones(n)]).astype(np.float32),
        indices=np.ascontiguousarray(face.triangles, np.uint32),
        material=material)
    return pyrender.Mesh(primitives=[primitive])


def _matrix_camera():
    """A pyrender camera whose projection matrix is whatever `.projection` holds (so pixels match our matrices)."""
    import pyrender

    class _MatrixCamera(pyrender.camera.Camera):
        projection = np.eye(4)

        def get_projection_matrix(self, width=None, height=None):
            return self.projection

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
