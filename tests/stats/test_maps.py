"""Noise score, peaks and effective rank on inputs with known answers."""

import math

import pytest
import torch

from layerscope.stats.maps import HIGH_FREQUENCY, effective_rank, noise_score, peak_positions, white_noise_share


def fft_noise_score(maps: torch.Tensor) -> torch.Tensor:
    """The noise score's definition, from the FFT of the centred map (the oracle; maps with a score only)."""
    x = maps.to(torch.float64)
    h, w = x.shape[-2:]
    power = torch.fft.fft2(x - x.mean((-2, -1), keepdim=True)).abs().square()
    fy = torch.fft.fftfreq(h, dtype=torch.float64).abs()[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64).abs()[None, :]
    high = torch.maximum(fy, fx) > HIGH_FREQUENCY
    return (power * high).sum((-2, -1)) / power.sum((-2, -1)) / (float(high.sum()) / (h * w - 1))


@pytest.mark.parametrize("size", [(4, 4), (7, 7), (12, 10), (31, 17), (56, 56)])
def test_noise_score_equals_the_fft_definition(size):
    x = torch.randn(3, 2, *size, generator=torch.Generator().manual_seed(sum(size))).cumsum(-1)
    torch.testing.assert_close(noise_score(x), fft_noise_score(x), rtol=1e-12, atol=1e-12)


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
