"""ChannelStats: literal values, a full-batch oracle, any split / merge order and state round trips (hypothesis)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerscope.stats import ChannelStats, noise_score
from layerscope.errors import InputError

from .test_maps import fft_noise_score

FIELDS = ("values", "nan", "inf", "mean", "std", "rms", "min", "max", "inactive", "at_bound",
          "spatial_std", "noise", "peak_row", "peak_col", "peak_spread")


def _close(a, b):
    for name in FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, atol=1e-9, equal_nan=True,
                                   err_msg=name)
    assert a.inputs == b.inputs
    assert math.isclose(a.effective_rank, b.effective_rank, rel_tol=1e-6) or (
        math.isnan(a.effective_rank) and math.isnan(b.effective_rank))


def _batch(seed: int, n: int = 12) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, 6, 7, generator=gen, dtype=torch.float64)
    x[:, 1] = -2.0  # dead
    x[3, 4, 2, 2] = math.nan
    x[5, 4, 0, 1] = math.inf
    return x


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_literal_values(dtype):
    """float64 maps are reduced exactly; float32 maps in float32 (a sum of squares from a norm: 1e-7 relative)."""
    maps = torch.tensor([[[[1.0, 3.0], [1.0, 3.0]], [[-1.0, -1.0], [-1.0, -1.0]]]], dtype=dtype)
    s = ChannelStats(2).update(maps).result()
    tol = 0 if dtype == torch.float64 else 1e-6
    assert s.mean.tolist() == [2.0, -1.0]
    assert s.std.tolist() == pytest.approx([1.0, 0.0], rel=tol, abs=tol)
    assert s.inactive.tolist() == [0.0, 1.0]
    assert s.spatial_std.tolist() == pytest.approx([1.0, 0.0], rel=tol, abs=tol)
    assert s.max.tolist() == [3.0, -1.0]
    assert s.peak_row.tolist()[0] == 0.0 and s.peak_col.tolist()[0] == 1.0


def test_full_batch_oracle_numpy():
    x = _batch(0)
    s = ChannelStats(5).update(x).result()
    per_channel = x.transpose(0, 1).reshape(5, -1).numpy()
    finite = np.where(np.isfinite(per_channel), per_channel, np.nan)
    np.testing.assert_allclose(s.mean, np.nanmean(finite, 1))
    np.testing.assert_allclose(s.std, np.nanstd(finite, 1))
    np.testing.assert_allclose(s.inactive, 1 - np.nansum(finite > 0, 1) / np.sum(np.isfinite(finite), 1))
    assert s.nan.tolist() == [0, 0, 0, 0, 1] and s.inf.tolist() == [0, 0, 0, 0, 1]
    scores = noise_score(x)[:, 0].numpy()
    assert s.noise[0] == pytest.approx(np.nanmean(scores))


def test_effective_rank_oracle():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20, 4, 5, 5, generator=gen, dtype=torch.float64)
    s = ChannelStats(4).update(x).result()
    rows = x.permute(0, 2, 3, 1).reshape(-1, 4).numpy()
    eig = np.clip(np.linalg.eigvalsh(np.cov(rows.T, bias=True)), 0, None)  # the participation ratio from eigenvalues
    assert s.effective_rank == pytest.approx(float(eig.sum() ** 2 / (eig**2).sum()), rel=1e-5)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 11), max_size=4, unique=True), order=st.randoms(use_true_random=False))
def test_any_split_and_merge_order_equals_full_batch(cuts, order):
    x = _batch(2)
    full = ChannelStats(5).update(x).result()
    bounds = [0, *sorted(cuts), 12]
    parts = [ChannelStats(5).update(x[a:b]) for a, b in zip(bounds, bounds[1:])]
    order.shuffle(parts)
    merged = ChannelStats(5)
    for part in parts:
        merged.merge(part)
    _close(full, merged.result())


def test_streaming_update_equals_full_batch():
    x = _batch(3)
    streamed = ChannelStats(5)
    for part in x.split(5):
        streamed.update(part)
    _close(ChannelStats(5).update(x).result(), streamed.result())


def test_saturation_counts_values_on_the_bound():
    x = torch.full((2, 1, 4, 4), 6.0)
    x[0, 0, 0, 0] = 3.0
    s = ChannelStats(1, bounds=(None, 6.0)).update(x).result()
    assert s.at_bound.tolist() == [31 / 32]


def test_wrong_shape_and_empty_result_raise():
    with pytest.raises(InputError, match=r"needs \(N, 3, H, W\)"):
        ChannelStats(3).update(torch.zeros(1, 2, 4, 4))
    with pytest.raises(InputError, match="before any update"):
        ChannelStats(3).result()


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(1, 11), max_size=4, unique=True), order=st.randoms(use_true_random=False))
def test_state_dict_round_trip_in_any_merge_order_equals_full_batch(cuts, order):
    x = _batch(4)
    kw = dict(bounds=(None, 1.0), active=0.5)
    bounds = [0, *sorted(cuts), 12]
    parts = [ChannelStats(5, **kw).update(x[a:b]) for a, b in zip(bounds, bounds[1:])]
    order.shuffle(parts)
    merged = ChannelStats(5, **kw)
    for part in parts:
        merged = ChannelStats.from_state(merged.state_dict()).merge(ChannelStats.from_state(part.state_dict()))
    _close(ChannelStats(5, **kw).update(x).result(), merged.result())
    assert merged.bounds == (None, 1.0) and merged.active == 0.5 and merged.spatial


def test_state_without_covariance_keeps_it_off():
    stats = ChannelStats(5, covariance=False).update(_batch(5))
    restored = ChannelStats.from_state(stats.state_dict())
    assert restored.covariance is None and math.isnan(restored.result().effective_rank)
    _close(stats.result(), restored.result())


def test_merge_refuses_other_settings_or_channels():
    with pytest.raises(InputError, match="different settings"):
        ChannelStats(2, active=0.1).merge(ChannelStats(2))
    with pytest.raises(InputError, match="different settings"):
        ChannelStats(2, covariance=False).merge(ChannelStats(2))
    with pytest.raises(InputError, match=r"Cannot merge ChannelStats\(3, inputs=0\) into ChannelStats\(2, inputs=0\)"):
        ChannelStats(2).merge(ChannelStats(3))


def test_from_state_names_missing_and_unknown_entries():
    state = ChannelStats(2).update(torch.zeros(1, 2, 3, 3)).state_dict()
    with pytest.raises(InputError, match="'config.active' missing"):
        ChannelStats.from_state({k: v for k, v in state.items() if k != "config.active"})
    with pytest.raises(InputError, match=r"unknown entries \['topk.values'\]"):
        ChannelStats.from_state({**state, "topk.values": torch.zeros(2)})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_give_the_cpu_numbers():
    x = _batch(6)
    on_gpu = ChannelStats(5).update(x[:7].cuda()).merge(ChannelStats(5).update(x[7:].cuda()))
    _close(ChannelStats(5).update(x).result(), on_gpu.result())


def test_noise_budget_scores_the_first_inputs_of_each_batch_only():
    """``noise_values`` caps the maps scored per batch (at least one input's); the other numbers are unchanged."""
    x = torch.randn(6, 2, 8, 8, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x[2:] = torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(8), dtype=torch.float64).cumsum(-1)
    full = ChannelStats(2).update(x).result()
    capped = ChannelStats(2, noise_values=2 * 2 * 64).update(x).result()  # two inputs' maps
    np.testing.assert_allclose(capped.noise, np.nanmean(noise_score(x[:2]).numpy(), 0))
    assert not np.allclose(capped.noise, full.noise)
    np.testing.assert_allclose(capped.std, full.std)
    tiny = ChannelStats(2, noise_values=1).update(x).result()  # never below one input
    np.testing.assert_allclose(tiny.noise, noise_score(x[:1])[0].numpy())
    restored = ChannelStats.from_state(ChannelStats(2, noise_values=256).update(x).state_dict())
    assert restored.noise_values == 256
    with pytest.raises(InputError, match="different settings"):
        ChannelStats(2, noise_values=256).merge(ChannelStats(2))


def test_low_band_noise_matches_the_fft_score_on_float32_maps():
    """The noise score from two matrix products per map equals the FFT's (the independent oracle)."""
    gen = torch.Generator().manual_seed(3)
    smooth = torch.randn(3, 4, 16, 20, generator=gen).cumsum(-1).cumsum(-2)
    x = torch.cat([torch.randn(3, 4, 16, 20, generator=gen), smooth, smooth + 50.0])  # noise, smooth, offset
    s = ChannelStats(4).update(x).result()
    np.testing.assert_allclose(s.noise, np.nanmean(fft_noise_score(x.double()).numpy(), 0), rtol=1e-4)
