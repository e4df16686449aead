"""The lights of one view: a grey ambient term and one or two white directional lights in front of the face.

Drawn once per view (`sample_lighting`) and handed to whichever renderer draws it, so pyrender and the raster
renderer light a face identically and a row can record what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Lighting:
    """ambient: grey level added to every surface (times its albedo).
    towards: (L, 3) float64 unit vectors from the surface toward each light, in the eye frame (x right, y up,
    z toward the camera). intensities: (L,) float64 radiance of each white light."""

    ambient: float
    towards: np.ndarray
    intensities: np.ndarray

    def as_dict(self) -> dict:
        return {"ambient": float(self.ambient), "towards": np.asarray(self.towards, np.float32),
                "intensities": np.asarray(self.intensities, np.float32)}


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """Ambient in [0.25, 0.45], then 1 or 2 lights from in front of the face and a little above, each of
    intensity in [0.8, 1.8] (the ranges keep skin out of saturation, see the renderer tests)."""
    ambient = float(rng.uniform(0.25, 0.45))
    towards, intensities = [], []
    for _ in range(int(rng.integers(1, 3))):
        direction = rng.normal(size=3) * [0.6, 0.6, 0.2] + [0, 0.3, 1.0]
        towards.append(direction / np.linalg.norm(direction))
        intensities.append(float(rng.uniform(0.8, 1.8)))
    return Lighting(ambient, np.array(towards, np.float64), np.array(intensities, np.float64))
