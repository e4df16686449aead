"""The structured output: a posed face composed in UV space equals the position map rasterised from its mesh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from frontside.facemodel.uv_basis import uv_basis
from frontside.geometry.posmap import rasterize_posmap
from frontside.geometry.transforms import angles_from_matrix, rotation_matrix
from frontside.learning.networks.structured import PosedBasis, rotation_from_6d


@pytest.fixture(scope="module")
def basis(builtin_model):
    return uv_basis(builtin_model, size=128)


def test_basis_shapes_and_names(builtin_model, basis):
    assert basis.components.shape == (builtin_model.n_identity + builtin_model.n_expression, 128, 128, 3)
    assert basis.mask.sum() > 0.4 * 128 * 128
    assert np.all(basis.mean[~basis.mask] == 0)
    assert abs(np.ptp(basis.mean[basis.mask], axis=0).max() - 1.0) < 0.02  # normalised by the largest extent
    assert basis.landmark_uv.shape == (68, 2)
    assert len(set(basis.names)) == basis.n_components


def test_rotation_from_6d_is_a_rotation():
    r = rotation_from_6d(torch.randn(16, 6))
    eye = torch.eye(3).expand(16, 3, 3)
    assert torch.allclose(r.transpose(1, 2) @ r, eye, atol=1e-5)
    assert torch.allclose(torch.det(r), torch.ones(16), atol=1e-5)


def test_posed_basis_matches_the_rasterised_mesh(builtin_model, basis, rng):
    """Orthographic pose + coefficients through the UV basis == rasterising the posed mesh (rho = 0)."""
    size = basis.size
    coeffs = builtin_model.sample(rng, 1.0, 1.0)
    vertices = builtin_model.vertices(coeffs).astype(np.float64)
    mean = builtin_model.mean.astype(np.float64)
    centre = (mean.min(0) + mean.max(0)) / 2
    rotation = rotation_matrix(25.0, -10.0, 7.0)
    scale, shift = 0.7 * size, np.array([0.05, -0.08])
    posed = (vertices - centre) / basis.length @ rotation.T * scale
    xyz = np.column_stack([posed[:, 0] + (1 + shift[0]) * size / 2, -posed[:, 1] + (1 + shift[1]) * size / 2,
                           posed[:, 2] - posed[:, 2].min()])
    truth, mask = rasterize_posmap(builtin_model.uv, builtin_model.triangles, xyz, size)
    assert np.array_equal(mask, basis.mask)

    by_name = {f"identity-{k}": v for k, v in enumerate(coeffs.identity)}
    by_name |= {f"expression-{k}": v for k, v in enumerate(coeffs.expression)}
    c = torch.tensor([[by_name[n] for n in basis.names]], dtype=torch.float32)
    pose = torch.tensor([[*rotation[:, 0], *rotation[:, 1], np.log(scale / size), *shift]], dtype=torch.float32)
    composed = PosedBasis(basis)(pose, c)[0].permute(1, 2, 0).detach().numpy()
    # z: the composed map is shifted by its own minimum over UV pixels, the mesh's by its minimum vertex
    offset = truth[..., 2][mask].min()
    assert np.abs(composed[..., :2][mask] - truth[..., :2][mask]).max() < 2e-3
    assert np.abs(composed[..., 2][mask] + offset - truth[..., 2][mask]).max() < 2e-3
    assert np.all(composed[~mask] == 0)


def test_fit_pose_recovers_a_known_pose(basis):
    geometry = PosedBasis(basis)
    r = rotation_matrix(-20.0, 8.0, -5.0)
    pose = torch.tensor([[*r[:, 0], *r[:, 1], np.log(0.6), 0.03, -0.02]], dtype=torch.float32)
    posmaps = geometry(pose.expand(4, 9), torch.zeros(4, geometry.n_components))
    fitted = geometry.fit_pose(posmaps, torch.from_numpy(basis.mask.astype(np.float32)))
    fitted_r = rotation_from_6d(fitted[None, :6])[0].double().numpy()
    assert np.allclose(angles_from_matrix(fitted_r), (-20.0, 8.0, -5.0), atol=0.05)
    assert torch.allclose(fitted[6:], pose[0, 6:], atol=1e-3)


def test_coefficients_reach_every_component(basis):
    geometry = PosedBasis(basis)
    c = torch.zeros(1, geometry.n_components, requires_grad=True)
    pose = torch.tensor([[1.0, 0, 0, 0, 1, 0, np.log(0.6), 0, 0]], dtype=torch.float32)
    geometry(pose, c).square().sum().backward()
    assert torch.all(c.grad.abs() > 0)


def test_coarse_grid_is_every_other_pixel_of_the_full_map(basis):
    geometry = PosedBasis(basis, train_stride=2)
    r = rotation_matrix(15.0, 5.0, -3.0)
    pose = torch.tensor([[*r[:, 0], *r[:, 1], np.log(0.6), 0.02, 0.01]], dtype=torch.float32)
    c = torch.randn(1, geometry.n_components)
    with torch.no_grad():
        full, coarse = geometry(pose, c), geometry(pose, c, coarse=True)
    assert coarse.shape == (1, 3, basis.size // 2, basis.size // 2)
    sub = full[..., ::2, ::2]
    covered = sub.abs().sum(1) > 0
    assert torch.allclose(coarse[:, :2][covered.expand(1, 2, -1, -1)], sub[:, :2][covered.expand(1, 2, -1, -1)],
                          atol=1e-4)
    # z: shifted by the minimum over the coarse grid, which is at most about a pixel above the full minimum
    offset = (coarse[:, 2] - sub[:, 2])[covered]
    assert float(offset.max() - offset.min()) < 1e-4 and -1.5 < float(offset.mean()) <= 1e-5
