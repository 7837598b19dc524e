"""Noise score, peaks and effective rank on inputs with known answers."""

import math

import pytest
import torch

from layerscope.stats.maps import effective_rank, noise_score, peak_positions, white_noise_share


def test_slow_wave_scores_zero():
    wave = torch.cos(torch.arange(32) * 2 * math.pi / 32)[None, :].expand(32, 32)[None, None]
    assert float(noise_score(wave)) == pytest.approx(0.0, abs=1e-9)


def test_ramp_leaks_little_through_the_periodic_border():
    ramp = torch.linspace(0, 1, 32)[None, :].expand(32, 32)[None, None]
    assert float(noise_score(ramp)) < 0.1


def test_white_noise_scores_one():
    x = torch.randn(64, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(noise_score(x).mean()) == pytest.approx(1.0, abs=0.02)


def test_checkerboard_scores_above_white_noise():
    board = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float()[None, None]
    assert float(noise_score(board)) == pytest.approx(1 / white_noise_share(16, 16))


def test_constant_and_nan_maps_have_no_score():
    x = torch.ones(1, 2, 8, 8)
    x[0, 1, 0, 0] = math.nan
    assert torch.isnan(noise_score(x)).all()


def test_white_noise_share_counts_frequencies():
    assert white_noise_share(4, 4) == pytest.approx(7 / 15)  # only |f| = 0.5 lies above 0.25


def test_peak_positions_are_fractions():
    m = torch.zeros(1, 2, 5, 5)
    m[0, 0, 4, 0] = 1
    m[0, 1, 2, 2] = 1
    assert peak_positions(m).tolist() == [[[1.0, 0.0], [0.5, 0.5]]]


def test_effective_rank_of_rank_one_is_one():
    v = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert effective_rank(torch.outer(v, v)) == pytest.approx(1.0)
