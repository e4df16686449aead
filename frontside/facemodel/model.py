"""The morphable-model record (eq. 2.6) and the face mesh it produces.

World frame of every model: x to the viewer's right, y up, z out of the face toward a frontal camera
(right-handed, OpenGL's eye frame at zero pose). Units are whatever the source uses (the built-in model:
millimetres; BFM: its native units); nothing downstream assumes a scale, renderers fit the face to the view.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Region(enum.IntEnum):
    """Per-vertex region label; PRN's loss weights them landmark:feature:face:neck = 16:4:3:0."""

    NECK = 0
    FACE = 1
    FEATURE = 2  # eyes, nose, mouth
    LANDMARK = 3  # the 68 iBUG landmarks (and their immediate ring)


REGION_WEIGHTS: dict[Region, float] = {
    Region.LANDMARK: 16.0,
    Region.FEATURE: 4.0,
    Region.FACE: 3.0,
    Region.NECK: 0.0,
}


# Landmark i of a face is landmark MIRRORED_LANDMARKS[i] of its mirror image (iBUG order: the jaw, brows, nose's
# wings, eyes and lips swap sides; the nose's bridge and the lips' middle points stay)
MIRRORED_LANDMARKS = np.array(
    [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, *range(35, 30, -1), 45, 44, 43, 42, 47, 46,
     39, 38, 37, 36, 41, 40, *range(54, 47, -1), *range(59, 54, -1), *range(64, 59, -1), 67, 66, 65], np.int64)


@dataclass(frozen=True)
class Coefficients:
    """Identity (K,) and expression (E,) coefficients in units of standard deviations."""

    identity: np.ndarray
    expression: np.ndarray


@dataclass(frozen=True)
class FaceMesh:
    """One posable face in its model's world frame, with the topology needed for a position map.

    vertices:  (N, 3) float32 world coordinates.
    triangles: (T, 3) int32, 0-based, counter-clockwise seen from outside.
    uv:        (N, 2) float32 in [0, 1], v up (v = 1 is the top of the UV layout: the forehead).
    landmarks: (68,) int64 vertex indices in iBUG order.
    colours:   (N, 3) float32 in [0, 1] per-vertex albedo, or None.
    regions:   (N,) uint8 `Region` labels, or None.
    face_id:   a stable name for this face (e.g. "builtin-000042").
    model:     the model's name ("builtin-v1", "BFM", "facegen:...").
    handle:    renderer-specific reference (FaceGen: path of the .fg file), or None.
    coefficients: the `Coefficients` the model drew this face from (in its standard deviations), or None
               (a face no model drew: FaceGen, a scan).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    uv: np.ndarray
    landmarks: np.ndarray
    colours: np.ndarray | None = None
    regions: np.ndarray | None = None
    face_id: str = ""
    model: str = ""
    handle: object | None = None
    coefficients: Coefficients | None = None


@dataclass(frozen=True)
class MorphableModel:
    """A linear face model: vertices = mean + id_basis @ (id_std * a) + exp_basis @ (exp_std * e).

    mean:      (N, 3) float32 mean shape.
    id_basis:  (3N, K) float32, rows ordered x0, y0, z0, x1, ... (BFM's layout).
    id_std:    (K,) float32 standard deviation of each identity component.
    exp_basis: (3N, E) float32, same row order.
    exp_std:   (E,) float32.
    triangles: (T, 3) int32, 0-based.
    uv:        (N, 2) float32 in [0, 1], v up.
    landmarks: (68,) int64 vertex indices, iBUG order.
    regions:   (N,) uint8 `Region` labels.
    colour_mean: (N, 3) float32 albedo in [0, 1], or None.
    colour_basis: (3N, C) float32, or None; colour_std: (C,) float32, or None.
    exp_mean:  (N, 3) float32 offset added with the expression basis (BFM's expMU), or None.
    name:      short model name recorded in every shard row ("builtin-v1", "BFM").
    """

    mean: np.ndarray
    id_basis: np.ndarray
    id_std: np.ndarray
    exp_basis: np.ndarray
    exp_std: np.ndarray
    triangles: np.ndarray
    uv: np.ndarray
    landmarks: np.ndarray
    regions: np.ndarray
    colour_mean: np.ndarray | None = None
    colour_basis: np.ndarray | None = None
    colour_std: np.ndarray | None = None
    exp_mean: np.ndarray | None = None
    name: str = "model"
    metadata: dict = field(default_factory=dict)

    def component_names(self) -> tuple[list[str], list[str]]:
        """(identity names (K,), expression names (E,)): the model's own where it names them (the built-in
        model does), else "identity k" / "expression k"."""
        ids = list(self.metadata.get("identity_names", ()))[:self.n_identity]
        exps = list(self.metadata.get("expression_names", ()))[:self.n_expression]
        ids += [f"identity {k}" for k in range(len(ids), self.n_identity)]
        exps += [f"expression {k}" for k in range(len(exps), self.n_expression)]
        return ids, exps

    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_identity(self) -> int:
        return int(self.id_basis.shape[1])

    @property
    def n_expression(self) -> int:
        return int(self.exp_basis.shape[1])

    def sample(self, rng: np.random.Generator, identity_scale: float = 1.0,
               expression_scale: float = 1.0) -> Coefficients:
        """Draw coefficients from the model's prior, N(0, scale^2) in units of standard deviation."""
        identity = rng.standard_normal(self.n_identity).astype(np.float32) * identity_scale
        expression = rng.standard_normal(self.n_expression).astype(np.float32) * expression_scale
        return Coefficients(identity=identity, expression=expression)

    def vertices(self, coeffs: Coefficients) -> np.ndarray:
        """(N, 3) float32 mesh for the given coefficients (eq. 2.6 plus the expression term)."""
        offset = self.id_basis @ (self.id_std * coeffs.identity) + self.exp_basis @ (self.exp_std * coeffs.expression)
        shape = self.mean + offset.reshape(-1, 3)
        if self.exp_mean is not None:
            shape = shape + self.exp_mean
        return shape.astype(np.float32, copy=False)

    def colours(self, rng: np.random.Generator | None = None) -> np.ndarray | None:
        """(N, 3) float32 albedo in [0, 1]: the mean, or a random draw when a colour basis exists and rng is given."""
        if self.colour_mean is None:
            return None
        if rng is None or self.colour_basis is None or self.colour_std is None:
            return self.colour_mean
        c = rng.standard_normal(self.colour_basis.shape[1]).astype(np.float32)
        out = self.colour_mean + (self.colour_basis @ (self.colour_std * c)).reshape(-1, 3)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def face(self, rng: np.random.Generator, face_id: str = "", identity_scale: float = 1.0,
             expression_scale: float = 1.0) -> FaceMesh:
        """A random face of this model as a `FaceMesh` (draws identity, expression, then colour)."""
        coeffs = self.sample(rng, identity_scale, expression_scale)
        return FaceMesh(
            vertices=self.vertices(coeffs),
            triangles=self.triangles,
            uv=self.uv,
            landmarks=self.landmarks,
            colours=self.colours(rng),
            regions=self.regions,
            face_id=face_id,
            model=self.name,
            coefficients=coeffs,
        )

    def mean_face(self, face_id: str = "mean") -> FaceMesh:
        """The mean shape as a `FaceMesh` (the evaluation's "no learning" baseline)."""
        zero = Coefficients(np.zeros(self.n_identity, np.float32), np.zeros(self.n_expression, np.float32))
        return FaceMesh(self.vertices(zero), self.triangles, self.uv, self.landmarks,
                        self.colour_mean, self.regions, face_id, self.name)
