"""PCA to RGB: shared bases, fixed signs, robustness to outliers, planted structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerscope.errors import InputError
from layerscope.render.pca import fit_pca_basis, pca_rgb


def random_maps(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_shared_basis_gives_identical_colours_for_identical_inputs():
    a, b = random_maps(0, 8, 6, 6), random_maps(1, 8, 6, 6) * 3
    basis = fit_pca_basis([a, b])
    alone = pca_rgb(a, basis)
    np.testing.assert_array_equal(pca_rgb(a.clone(), basis), alone)
    np.testing.assert_array_equal(pca_rgb(torch.stack([b, a]), basis)[1], alone)


def test_fits_are_deterministic():
    maps = random_maps(2, 2, 16, 32, 32)  # more pixels than max_samples: subsampled with the seed
    first, second = fit_pca_basis(maps, max_samples=500), fit_pca_basis(maps.clone(), max_samples=500)
    for name in ("mean", "components", "low", "high", "explained"):
        assert torch.equal(getattr(first, name), getattr(second, name))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), channels=st.integers(3, 12))
def test_component_signs_are_fixed(seed, channels):
    maps = random_maps(seed, channels, 5, 7) * torch.linspace(0.5, 3.0, channels).view(-1, 1, 1)
    basis = fit_pca_basis(maps)
    largest = basis.components.gather(1, basis.components.abs().argmax(dim=1, keepdim=True))
    assert (largest > 0).all()
    flipped = fit_pca_basis(-maps)  # same principal axes, opposite data: the same signed components
    torch.testing.assert_close(flipped.components, basis.components, atol=1e-4, rtol=1e-4)


def test_planted_direction_is_the_first_component():
    direction = torch.tensor([0.0, 3.0, -4.0, 0.0]) / 5.0
    t = torch.linspace(-1, 1, 64).view(1, 8, 8)
    maps = direction.view(4, 1, 1) * t + 0.01 * random_maps(3, 4, 8, 8)
    basis = fit_pca_basis(maps)
    assert torch.allclose(basis.components[0], -direction, atol=0.02)  # -4/5 is the largest: made positive
    assert basis.explained[0] > 0.99
    red = pca_rgb(maps, basis)[..., 0].astype(int)
    assert red[0, 0] == 255 and red[-1, -1] == 0  # t = -1 projects highest on -direction


def test_one_outlier_pixel_does_not_wash_out_the_image():
    maps = random_maps(4, 6, 24, 24)
    spiked = maps.clone()
    spiked[:, 3, 3] = 1e6
    rgb = pca_rgb(spiked).astype(float)
    others = np.delete(rgb.reshape(-1, 3), 3 * 24 + 3, axis=0)
    assert (others.std(axis=0) > 40).all()  # every colour still spans the range
    assert set(rgb[3, 3]) <= {0.0, 255.0}  # the outlier is clipped, not the scale


def test_fewer_than_three_channels_leave_the_rest_black():
    rgb = pca_rgb(random_maps(5, 2, 4, 4))
    assert rgb.shape == (4, 4, 3) and (rgb[..., 2] == 0).all() and rgb[..., 0].std() > 0


def test_inputs_are_not_mutated():
    maps = random_maps(6, 5, 4, 4)
    before = maps.clone()
    pca_rgb(maps, fit_pca_basis([maps, maps * 2]))
    assert torch.equal(maps, before)


def test_basis_channel_mismatch_says_how_to_fix():
    basis = fit_pca_basis(random_maps(7, 5, 4, 4))
    with pytest.raises(InputError, match=r"fitted on 5 channels but these maps have 6.*fit_pca_basis"):
        pca_rgb(random_maps(8, 6, 4, 4), basis)
    with pytest.raises(InputError, match=r"maps of shape \(C, H, W\) or \(N, C, H, W\).*got \(4, 4\)"):
        pca_rgb(torch.zeros(4, 4))
    with pytest.raises(InputError, match=r"clip must be percentiles"):
        fit_pca_basis(random_maps(9, 5, 4, 4), clip=(99.0, 1.0))


@pytest.mark.parametrize("pixels, channels", [(200, 6), (5, 12)])  # scatter-matrix path, svd path
def test_principal_axes_match_numpy_svd(pixels, channels):
    from layerscope.render.pca import _principal_axes

    data = random_maps(10, pixels, channels) * torch.linspace(1.0, 4.0, channels)
    centered = data - data.mean(dim=0)
    axes, variances = _principal_axes(centered)
    _, singular, vh = np.linalg.svd(centered.double().numpy(), full_matrices=False)
    k = min(3, len(singular))
    np.testing.assert_allclose(np.abs((axes[:k].double().numpy() * vh[:k]).sum(axis=1)), 1.0, atol=1e-4)
    np.testing.assert_allclose(variances[:k].numpy(), singular[:k] ** 2, rtol=1e-4)


def test_fit_with_more_channels_than_pixels():
    rgb = pca_rgb(random_maps(11, 64, 3, 3))
    assert rgb.shape == (3, 3, 3) and rgb.std() > 0


def test_nonfinite_pixels_are_marked_like_grids():
    from layerscope.render.colormap import MARKER_RGB

    maps = torch.randn(4, 6, 6, generator=torch.Generator().manual_seed(0))
    maps[1, 2, 3] = float("nan")
    maps[0, 5, 5] = float("inf")
    rgb = pca_rgb(maps)
    assert tuple(rgb[2, 3]) == MARKER_RGB and tuple(rgb[5, 5]) == MARKER_RGB
    assert (rgb.reshape(-1, 3) == MARKER_RGB).all(axis=1).sum() == 2
