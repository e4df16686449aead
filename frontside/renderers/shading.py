"""The skin model both renderers share: pyrender's metallic-roughness shader, evaluated per vertex here.

pyrender (shaders/mesh.frag) lights a vertex-coloured mesh under a white material as
    L = sum_i I_i nl_i ((1 - F) c_diff / pi + F G D / (4 nl nv + 0.001)) + ambient,   colour = pow(L albedo, 1/2.2)
with c_diff = 0.96, f0 = 0.04, Schlick's Fresnel F, Smith-Schlick G with k = (r + 1)^2 / 8, GGX D with
alpha = r^2, r = 0.7. The raster renderer evaluates this at the vertices and interpolates (Gouraud); pyrender
evaluates it per pixel. At this mesh density (triangles of one to three pixels) the two agree to a few levels.
"""

from __future__ import annotations

import numba
import numpy as np

from frontside.renderers.lighting import Lighting

ROUGHNESS = 0.7
_F0 = 0.04  # pyrender's dielectric specular (its min_roughness constant)
_C_DIFF = 1.0 - _F0


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) float32 unit normals: the area-weighted sum of the adjacent triangles' normals (outward for
    counter-clockwise triangles); (0, 0, 1) for a vertex no triangle uses."""
    return _normals(np.ascontiguousarray(vertices, np.float64), np.ascontiguousarray(triangles, np.int64))


@numba.njit(cache=True, nogil=True)
def _normals(v, t):
    out = np.zeros(v.shape)
    for i in range(t.shape[0]):
        a, b, c = t[i, 0], t[i, 1], t[i, 2]
        e1x, e1y, e1z = v[b, 0] - v[a, 0], v[b, 1] - v[a, 1], v[b, 2] - v[a, 2]
        e2x, e2y, e2z = v[c, 0] - v[a, 0], v[c, 1] - v[a, 1], v[c, 2] - v[a, 2]
        nx, ny, nz = e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x  # |n| = 2 x area
        for corner in (a, b, c):
            out[corner, 0] += nx
            out[corner, 1] += ny
            out[corner, 2] += nz
    result = np.empty(v.shape, np.float32)
    for i in range(v.shape[0]):
        length = np.sqrt(out[i, 0] ** 2 + out[i, 1] ** 2 + out[i, 2] ** 2)
        if length == 0.0:
            result[i, 0], result[i, 1], result[i, 2] = 0.0, 0.0, 1.0
        else:
            for j in range(3):
                result[i, j] = out[i, j] / length
    return result


# pyrender's pow(x, 1/2.2) as s^(2/2.2) at s = sqrt(x), linear between 1,024 steps of s: within 4e-6 of pow
# (a thousandth of a level; the curve's infinite slope at 0 is why s, not x, indexes it) and 4x faster.
_GAMMA_STEPS = 1024
_GAMMA_TABLE = (np.arange(_GAMMA_STEPS + 2) / _GAMMA_STEPS) ** (2.0 / 2.2)


@numba.njit(cache=True, nogil=True)
def _gamma(x, table):
    s = np.sqrt(min(max(x, 0.0), 1.0)) * (table.shape[0] - 2)
    k = int(s)
    return table[k] + (s - k) * (table[k + 1] - table[k])


def shade_vertices(positions: np.ndarray, normals: np.ndarray, albedo: np.ndarray, lighting: Lighting,
                   roughness: float = ROUGHNESS, to_eye: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) float32 display colours in [0, 1] of vertices at positions (N, 3) with unit normals (N, 3) and
    albedo (N, 3) in [0, 1], the camera at the eye frame's origin (as pyrender's `cam_pos`).

    to_eye: (4, 4) affine from the frame of positions and normals to the eye frame (M_WCS->ECS for world ones);
    None when they are in the eye frame already. The kernel moves each vertex itself (normals by the inverse
    transpose, renormalised): no (N, 3) temporaries in numpy."""
    to_eye = np.eye(4) if to_eye is None else np.asarray(to_eye, np.float64)
    linear = to_eye[:3, :3]
    return _shade(np.ascontiguousarray(positions, np.float64), np.ascontiguousarray(normals, np.float64),
                  np.ascontiguousarray(albedo, np.float64), np.ascontiguousarray(linear),
                  np.ascontiguousarray(to_eye[:3, 3]), np.ascontiguousarray(np.linalg.inv(linear).T),
                  float(lighting.ambient), np.ascontiguousarray(lighting.towards, np.float64).reshape(-1, 3),
                  np.ascontiguousarray(lighting.intensities, np.float64).reshape(-1), float(roughness), _GAMMA_TABLE)


@numba.njit(cache=True, nogil=True)
def _shade(points, normals, albedo, linear, offset, normal_matrix, ambient, towards, intensities, roughness,
           gamma_table):
    k = (roughness + 1.0) ** 2 / 8.0
    a2 = roughness ** 4
    out = np.empty(points.shape, np.float32)
    for i in range(points.shape[0]):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        px = linear[0, 0] * x + linear[0, 1] * y + linear[0, 2] * z + offset[0]
        py = linear[1, 0] * x + linear[1, 1] * y + linear[1, 2] * z + offset[1]
        pz = linear[2, 0] * x + linear[2, 1] * y + linear[2, 2] * z + offset[2]
        x, y, z = normals[i, 0], normals[i, 1], normals[i, 2]
        nx = normal_matrix[0, 0] * x + normal_matrix[0, 1] * y + normal_matrix[0, 2] * z
        ny = normal_matrix[1, 0] * x + normal_matrix[1, 1] * y + normal_matrix[1, 2] * z
        nz = normal_matrix[2, 0] * x + normal_matrix[2, 1] * y + normal_matrix[2, 2] * z
        length = max(np.sqrt(px * px + py * py + pz * pz), 1e-12)
        vx, vy, vz = -px / length, -py / length, -pz / length
        length = max(np.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)
        nx, ny, nz = nx / length, ny / length, nz / length
        nv = min(max(abs(nx * vx + ny * vy + nz * vz), 0.001), 1.0)
        g_view = nv / (nv * (1.0 - k) + k)
        radiance = ambient
        for j in range(towards.shape[0]):
            lx, ly, lz = towards[j, 0], towards[j, 1], towards[j, 2]
            hx, hy, hz = vx + lx, vy + ly, vz + lz
            h_length = max(np.sqrt(hx * hx + hy * hy + hz * hz), 1e-12)
            hx, hy, hz = hx / h_length, hy / h_length, hz / h_length
            nl = min(max(nx * lx + ny * ly + nz * lz, 0.001), 1.0)
            nh = min(max(nx * hx + ny * hy + nz * hz, 0.0), 1.0)
            vh = min(max(vx * hx + vy * hy + vz * hz, 0.0), 1.0)
            fresnel = _F0 + (1.0 - _F0) * (1.0 - vh) ** 5
            geometry = g_view * nl / (nl * (1.0 - k) + k)
            d = nh * nh * (a2 - 1.0) + 1.0
            distribution = a2 / (np.pi * d * d)
            diffuse = (1.0 - fresnel) * _C_DIFF / np.pi
            specular = fresnel * geometry * distribution / (4.0 * nl * nv + 0.001)
            radiance += intensities[j] * nl * (diffuse + specular)
        for c in range(3):  # pyrender multiplies by the vertex colour before its gamma
            out[i, c] = _gamma(radiance * albedo[i, c], gamma_table)
    return out
