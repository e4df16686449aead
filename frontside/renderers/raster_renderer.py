"""The CPU renderer: faces drawn by the numba kernel that draws the position maps, no OpenGL needed.

Same framing (`frame_face`), lights (`Lighting`) and skin model (`shading.shade_vertices`, pyrender's shader
evaluated per vertex) as `PyrenderRenderer`; edges anti-aliased by supersampling: each pixel is the mean of a
`supersample` x `supersample` grid of samples (2 x 2 by default, as pyrender's 4x MSAA), which gives the
coverage (alpha) and colour premultiplied by it in one pass of the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from frontside.facemodel.model import FaceMesh
from frontside.geometry.raster import rasterize_values
from frontside.renderers.camera import Camera, FramedRenderer
from frontside.renderers.lighting import Lighting
from frontside.renderers.shading import shade_vertices, vertex_normals

DEFAULT_ALBEDO = 0.75


@dataclass
class RasterRenderer(FramedRenderer):
    """Renders `FaceMesh`es on the CPU: `render(face, pose, size, rng) -> RenderedView` and
    `render_views(face, [(camera, lighting), ...])` (all views of a face from one set of normals)."""

    supersample: int = 2
    name: str = "raster"

    def render_views(self, face: FaceMesh, views: list[tuple[Camera, Lighting]],
                     pixels: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """[(S, S, 4) uint8 RGBA, RGB premultiplied by alpha] for each (camera, lighting), S = camera.size.
        pixels: each view's `camera.image_vertices(face.vertices)` when the caller has them already."""
        normals = vertex_normals(face.vertices, face.triangles)
        albedo = (np.clip(face.colours, 0, 1) if face.colours is not None
                  else np.full((len(face.vertices), 3), DEFAULT_ALBEDO, np.float32))
        pixels = pixels or [camera.image_vertices(face.vertices) for camera, _ in views]
        return [self._draw(face, normals, albedo, camera, lighting, xyz)
                for (camera, lighting), xyz in zip(views, pixels)]

    def _draw(self, face: FaceMesh, normals: np.ndarray, albedo: np.ndarray, camera: Camera,
              lighting: Lighting, pixels: np.ndarray) -> np.ndarray:
        colours = shade_vertices(face.vertices, normals, albedo, lighting, to_eye=camera.world_to_eye)
        k, size = int(self.supersample), camera.size
        # sample (r, c) of the k-times grid has its centre at ((c + 0.5) / k, (r + 0.5) / k) in crop pixels
        rgb, covered = rasterize_values(pixels[:, :2].astype(np.float64) * k, pixels[:, 2], face.triangles,
                                        colours, size * k, size * k, scratch=True)
        return _resolve(rgb, covered, k)


@numba.njit(cache=True, nogil=True)
def _resolve(rgb, covered, k):
    """(S, S, 4) uint8: each pixel the mean of its k x k samples; uncovered samples count as transparent black,
    so the colour comes out premultiplied by the coverage."""
    size = rgb.shape[0] // k
    out = np.empty((size, size, 4), np.uint8)
    scale = 255.0 / (k * k)
    for r in range(size):
        for c in range(size):
            red = green = blue = hits = 0.0
            for i in range(r * k, r * k + k):
                for j in range(c * k, c * k + k):
                    if covered[i, j]:
                        red += rgb[i, j, 0]
                        green += rgb[i, j, 1]
                        blue += rgb[i, j, 2]
                        hits += 1.0
            out[r, c, 0] = np.uint8(min(red * scale + 0.5, 255.0))
            out[r, c, 1] = np.uint8(min(green * scale + 0.5, 255.0))
            out[r, c, 2] = np.uint8(min(blue * scale + 0.5, 255.0))
            out[r, c, 3] = np.uint8(min(hits * scale + 0.5, 255.0))
    return out
