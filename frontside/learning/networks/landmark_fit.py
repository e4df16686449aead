"""The face model's 68 landmarks as a linear model, and its differentiable fit to landmarks seen in several views.

A multi-view network (`networks.multiview`) reads each view's 68 landmarks and pose from its photo; what ties
the views together is this fit: the coefficients every view agrees on, found by Gauss-Newton on the linear face
model under its prior, each view's pose refined at the same time (bundle adjustment). In a profile a landmark's
horizontal position is its depth, so the side's landmarks constrain what a front photo cannot.

Poses are `PosedBasis`'s numbers plus the view's own perspective strength (10): 6-D rotation, log scale (of the
frame S), shift (units of S/2 from the centre), rho. Landmarks are (x, y) pixels of the S-pixel crop, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from frontside.facemodel.uv_basis import UVBasis
from frontside.learning.networks.structured import rotation_from_6d

POSE = 10  # rotation (6), log scale, shift (2), rho
# The prior's standard deviation of a coefficient, in the model's own standard deviations: identity as the model
# says; expression as the built-in source draws it (0.7), a milder prior than the model's full range.
IDENTITY_PRIOR, EXPRESSION_PRIOR = 1.0, 0.7


@dataclass
class LandmarkBasis:
    """mean (68, 3) and components (K, 68, 3) of the 68 landmarks in the basis's normalised frame (the UV basis
    sampled at the landmarks' UVs), and prior_std (K,) of the coefficients."""

    mean: np.ndarray
    components: np.ndarray
    prior_std: np.ndarray


def landmark_basis(basis: UVBasis) -> LandmarkBasis:
    """The 68 landmarks' linear model from a UV basis: each landmark's UV pixel (the nearest covered one)."""
    from frontside.geometry.posmap import uv_to_pixels

    size = basis.size
    pixels = np.floor(uv_to_pixels(basis.landmark_uv, size)).astype(int).clip(0, size - 1)
    rows, cols = np.nonzero(basis.mask)
    covered = np.column_stack([cols, rows])
    picked = []
    for x, y in pixels:
        if basis.mask[y, x]:
            picked.append((y, x))
        else:
            k = int(np.argmin(((covered - (x, y)) ** 2).sum(1)))
            picked.append((rows[k], cols[k]))
    r, c = np.array(picked).T
    prior = np.array([IDENTITY_PRIOR if n.startswith("identity") else EXPRESSION_PRIOR for n in basis.names],
                     np.float32)
    return LandmarkBasis(basis.mean[r, c].astype(np.float32), basis.components[:, r, c].astype(np.float32), prior)


def axis_angle(w: torch.Tensor) -> torch.Tensor:
    """(M, 3, 3) rotation matrices of axis-angle vectors w (M, 3) (Rodrigues), smooth at 0."""
    theta2 = (w * w).sum(-1, keepdim=True)[..., None]
    k = torch.zeros(len(w), 3, 3, dtype=w.dtype, device=w.device)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -w[:, 2], w[:, 1], -w[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = w[:, 2], -w[:, 1], w[:, 0]
    theta = theta2.sqrt()
    a = torch.where(theta2 > 1e-8, torch.sin(theta) / theta.clamp_min(1e-8), 1 - theta2 / 6)
    b = torch.where(theta2 > 1e-8, (1 - torch.cos(theta)) / theta2.clamp_min(1e-8), 0.5 - theta2 / 24)
    return torch.eye(3, dtype=w.dtype, device=w.device)[None] + a * k + b * (k @ k)


def refine_pose(pose: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """(M, 10) poses moved by deltas (M, 6): a rotation vector applied after the pose's rotation, log scale, shift."""
    r = axis_angle(delta[:, :3]) @ rotation_from_6d(pose[:, :6])
    return torch.cat([r[:, :, 0], r[:, :, 1], pose[:, 6:7] + delta[:, 3:4], pose[:, 7:9] + delta[:, 4:6],
                      pose[:, 9:10]], 1)


def _posed(mean, components, pose, delta, coef, frame: int):
    """Rotation r (M, 3, 3), rotated landmarks q (M, 68, 3), scale s (M, 1) in pixels, rho (M, 1), shift (M, 2) in
    pixels of a view at pose (M, 10) moved by delta (M, 6)."""
    shape = mean + torch.einsum("mk,kpj->mpj", coef, components)
    r = axis_angle(delta[:, :3]) @ rotation_from_6d(pose[:, :6])
    q = torch.einsum("mij,mpj->mpi", r, shape)
    s = frame * torch.exp(pose[:, 6:7] + delta[:, 3:4])
    shift = (pose[:, 7:9] + delta[:, 4:6]) * (frame / 2.0) + frame / 2.0
    return r, q, s, pose[:, 9:10], shift


def project(mean: torch.Tensor, components: torch.Tensor, pose: torch.Tensor, coef: torch.Tensor, frame: int,
            delta: torch.Tensor | None = None) -> torch.Tensor:
    """(M, 68, 2) pixels of the S = `frame` crop: the landmarks of coefficients coef (M, K) at pose (M, 10) (moved
    by delta (M, 6) when given), as `PosedBasis` places a face: rotation, perspective division by
    (1 - rho depth), scale, shift."""
    delta = pose.new_zeros(len(pose), 6) if delta is None else delta
    _, q, s, rho, shift = _posed(mean, components, pose, delta, coef, frame)
    den = (1.0 - rho * q[..., 2]).clamp_min(0.2)
    return torch.stack([s * q[..., 0] / den + shift[:, :1], shift[:, 1:] - s * q[..., 1] / den], -1)


def coefficient_jacobian(mean, components, pose, delta, coef, frame: int) -> torch.Tensor:
    """(M, 68, 2, K): d(projected landmarks) / d(coefficients) at coef, analytic."""
    r, q, s, rho, _ = _posed(mean, components, pose, delta, coef, frame)
    d = torch.einsum("mij,kpj->mkpi", r, components)  # rotated components (M, K, 68, 3)
    s, rho = s[:, :, None], rho[:, :, None]
    den = (1.0 - rho * q[..., 2][:, None]).clamp_min(0.2)  # (M, 1, 68)
    dx = s * (d[..., 0] / den + q[:, None, :, 0] * rho * d[..., 2] / den ** 2)
    dy = -s * (d[..., 1] / den + q[:, None, :, 1] * rho * d[..., 2] / den ** 2)
    return torch.stack([dx, dy], -1).permute(0, 2, 3, 1)


def fit(mean: torch.Tensor, components: torch.Tensor, prior_var: torch.Tensor, xy: torch.Tensor,
        weight: torch.Tensor, pose: torch.Tensor, owner: torch.Tensor, faces: int, sigma_px: torch.Tensor,
        frame: int, iterations: int = 2, pose_sigma: tuple[float, float, float] = (0.09, 0.05, 0.03),
        eps: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """(coefficients (faces, K), pose deltas (M, 6)) by Gauss-Newton from the mean face, differentiable.

    M view-rows (every present view of every face; owner (M,) says whose face), landmarks xy (M, 68, 2) with
    weights (M, 68) in [0, 1], predicted poses (M, 10). Unknowns: K coefficients a face (prior N(0, prior_var)), 6
    pose deltas a view (prior N(0, pose_sigma^2): rotation in radians, log scale, shift). Residuals
    (projection - xy) sqrt(weight) / sigma_px. Each view's pose unknowns are eliminated (Schur complement), leaving
    a K x K solve a face."""
    m, k = len(xy), components.shape[0]
    coef = xy.new_zeros(faces, k)
    delta = xy.new_zeros(m, 6)
    sw = (weight.clamp_min(0).sqrt() / sigma_px)[..., None]
    ps = torch.tensor([pose_sigma[0]] * 3 + [pose_sigma[1]] + [pose_sigma[2]] * 2, dtype=xy.dtype, device=xy.device)
    prior = torch.diag(1.0 / prior_var)
    for _ in range(iterations):
        c = coef[owner]
        base = project(mean, components, pose, c, frame, delta)
        r = ((xy - base) * sw).reshape(m, -1)
        jc = (coefficient_jacobian(mean, components, pose, delta, c, frame) * sw[..., None]).reshape(m, -1, k)
        jp = []
        for j in range(6):  # the pose's Jacobian by forward differences: 6 cheap projections
            moved = delta.clone()
            moved[:, j] += eps
            jp.append(((project(mean, components, pose, c, frame, moved) - base) / eps * sw).reshape(m, -1))
        jp = torch.stack(jp, -1)  # (M, 136, 6)
        a_cc = xy.new_zeros(faces, k, k).index_add_(0, owner, jc.transpose(1, 2) @ jc) + prior
        b_c = xy.new_zeros(faces, k).index_add_(0, owner, torch.einsum("mrk,mr->mk", jc, r)) - coef / prior_var
        a_pp = jp.transpose(1, 2) @ jp + torch.diag(1.0 / ps ** 2)
        a_pc = jp.transpose(1, 2) @ jc  # (M, 6, K)
        b_p = torch.einsum("mrk,mr->mk", jp, r) - delta / ps ** 2
        inv_pp = torch.linalg.inv(a_pp)
        reduced = a_pc.transpose(1, 2) @ inv_pp
        s_cc = a_cc - xy.new_zeros(faces, k, k).index_add_(0, owner, reduced @ a_pc)
        s_b = b_c - xy.new_zeros(faces, k).index_add_(0, owner, (reduced @ b_p[..., None])[..., 0])
        step = torch.linalg.solve(s_cc, s_b)
        delta = delta + (inv_pp @ (b_p[..., None] - a_pc @ step[owner][..., None]))[..., 0]
        coef = coef + step
    return coef, delta


def fit_pose_to_points(points: np.ndarray, target: np.ndarray, frame: int) -> tuple[np.ndarray, float]:
    """(10,) pose placing points (M, 3) of the normalised frame on target (M, 3) crop pixels (x, y down, z in
    pixels up to a shift) as `project` does, and the RMS residual in pixels: a similarity (Umeyama) refined with
    perspective by Levenberg-Marquardt. What a view's pose head is taught from the view's true landmarks."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    p = np.asarray(points, np.float64)
    q = np.asarray(target, np.float64) * np.array([1.0, -1.0, 1.0])
    pc, qc = p.mean(0), q.mean(0)
    u, s, vt = np.linalg.svd((q - qc).T @ (p - pc))
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ fix @ vt
    scale = (s * np.diag(fix)).sum() / ((p - pc) ** 2).sum()
    t = qc - scale * r @ pc
    half = frame / 2.0
    start = np.concatenate([Rotation.from_matrix(r).as_rotvec(), [np.log(scale / frame)],
                            [t[0] / half - 1.0, -t[1] / half - 1.0], [0.1]])

    def residual(params):
        rot = Rotation.from_rotvec(params[:3]).as_matrix()
        posed = p @ rot.T
        sc = frame * np.exp(params[3])
        magnify = sc / np.clip(1.0 - params[6] * posed[:, 2], 0.2, None)
        out = np.column_stack([magnify * posed[:, 0] + params[4] * half + half,
                               params[5] * half + half - magnify * posed[:, 1], sc * posed[:, 2]])
        res = out - target
        res[:, 2] -= res[:, 2].mean()  # depth is known up to its shift
        return res.ravel()

    solved = least_squares(residual, start, method="lm", xtol=1e-8, ftol=1e-8)
    rot = Rotation.from_rotvec(solved.x[:3]).as_matrix()
    pose = np.concatenate([rot[:, 0], rot[:, 1], solved.x[3:7]]).astype(np.float32)
    return pose, float(np.sqrt(np.mean(solved.fun ** 2) * 3))
