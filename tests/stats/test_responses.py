"""ResponseStats, the scan's per-layer accumulator: a float64 numpy oracle, any split merged in any order equals
one pass (counts, extrema, histograms and top-k exactly; mean and variance to float64 rounding), the fast path
(finite float32 batches) agrees with the masked one, and a dominating mean costs no precision."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.torch import load, save

from layerscope.errors import InputError
from layerscope.stats import PEAK_EDGES, Histogram, ResponseStats

EXACT = ("count", "min", "max", "nan", "inf", "active", "active_inputs")


def oracle(x: np.ndarray) -> dict:
    """Per channel statistics of maps (N, C, H, W) computed with numpy in float64."""
    v = x.astype(np.float64).transpose(1, 0, 2, 3).reshape(x.shape[1], x.shape[0], -1)  # (C, N, L)
    finite = np.isfinite(v)
    count = finite.sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, v, 0).sum((1, 2)) / count
        var = np.where(finite, (v - mean[:, None, None]) ** 2, 0).sum((1, 2)) / count
    peaks = np.where(np.isnan(v), -np.inf, v).max(2)  # (C, N)
    return {
        "count": count, "mean": np.where(count > 0, mean, np.nan), "var": var,
        "min": np.where(finite, v, np.inf).min((1, 2)), "max": np.where(finite, v, -np.inf).max((1, 2)),
        "nan": np.isnan(v).sum((1, 2)), "inf": np.isinf(v).sum((1, 2)),
        "active": (v > 0).sum((1, 2)) / v[0].size, "active_inputs": (v > 0).any(2).sum(1) / v.shape[1],
        "peaks": Histogram(x.shape[1], PEAK_EDGES).update(torch.from_numpy(peaks.T.copy())).result().counts,
    }


def assert_same(a, b, exact_mean=True):
    for name in EXACT:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("mean", "var"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-15, equal_nan=True,
                                   err_msg=name)
    np.testing.assert_array_equal(a.peaks.counts, b.peaks.counts)
    for name in ("top", "top_mean"):
        for field in ("score", "index", "position"):
            np.testing.assert_array_equal(getattr(getattr(a, name), field), getattr(getattr(b, name), field),
                                          err_msg=f"{name}.{field}")


def assert_oracle(result, x):
    expected = oracle(x)
    for name in ("count", "nan", "inf", "active", "active_inputs"):
        np.testing.assert_array_equal(getattr(result, name), expected[name], err_msg=name)
    seen = expected["count"] > 0
    np.testing.assert_array_equal(result.min[seen], expected["min"][seen])
    np.testing.assert_array_equal(result.max[seen], expected["max"][seen])
    np.testing.assert_allclose(result.mean, expected["mean"], rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(result.var, expected["var"], rtol=1e-5, atol=1e-12, equal_nan=True)  # float32 squares: ~10 ulp
    np.testing.assert_array_equal(result.peaks.counts, expected["peaks"])


small_ints = st.integers(-6, 6).map(float)  # sums of these are exact in float32: means and top-k equal the oracle
values = st.one_of(small_ints, st.sampled_from([math.nan, math.inf, -math.inf]))
shapes = st.tuples(st.integers(1, 10), st.just(3), st.integers(1, 3), st.integers(1, 3))
datasets = st.one_of(arrays(np.float32, shapes, elements=small_ints), arrays(np.float32, shapes, elements=values))
real = arrays(np.float32, shapes, elements=st.floats(-3, 3, width=32))


@settings(max_examples=40, deadline=None)
@given(data=st.one_of(datasets, real), cuts=st.lists(st.integers(1, 9), max_size=4, unique=True),
       order=st.randoms(use_true_random=False))
def test_any_split_in_any_merge_order_equals_one_pass(data, cuts, order):
    index = np.arange(len(data))
    bounds = [0, *sorted(c for c in cuts if c < len(data)), len(data)]
    parts = [ResponseStats(3, k=4).update(torch.from_numpy(data[a:b]), torch.from_numpy(index[a:b]))
             for a, b in zip(bounds, bounds[1:])]
    while len(parts) > 1:
        i, j = order.sample(range(len(parts)), 2)
        other = ResponseStats.from_state(load(save(parts[j].state_dict()))) if order.random() < 0.5 else parts[j]
        parts = [p for n, p in enumerate(parts) if n not in (i, j)] + [parts[i].merge(other)]
    assert_same(parts[0].result(), ResponseStats(3, k=4).update(torch.from_numpy(data)).result())


@settings(max_examples=40, deadline=None)
@given(data=datasets)
def test_matches_a_float64_numpy_oracle(data):
    assert_oracle(ResponseStats(3).update(torch.from_numpy(data)).result(), data)


def test_the_fast_path_agrees_with_the_masked_path():
    x = torch.randn(6, 4, 5, 7)
    fast = ResponseStats(4, k=3).update(x).result()  # finite float32: BLAS sums
    masked = ResponseStats(4, k=3).update(x.double()).result()  # float64: the masked path
    for name in EXACT:
        np.testing.assert_array_equal(getattr(fast, name), getattr(masked, name), err_msg=name)
    np.testing.assert_allclose(fast.mean, masked.mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fast.var, masked.var, rtol=1e-5)
    np.testing.assert_array_equal(fast.top.index, masked.top.index)


def test_a_dominating_mean_costs_no_precision():
    x = (1000.0 + 1e-3 * torch.randn(8, 2, 16, 16)).float()  # mean^2 / var = 1e12: sums of squares would cancel
    result = ResponseStats(2).update(x).result()
    expected = oracle(x.numpy())
    np.testing.assert_allclose(result.var, expected["var"], rtol=1e-9)


def test_activity_counts_positions_and_inputs():
    maps = torch.zeros(4, 2, 3, 3)
    maps[1, 0, 2, 2] = 5.0  # channel 0: one position of one input; channel 1: never
    r = ResponseStats(2).update(maps).result()
    assert r.active.tolist() == [1 / 36, 0.0] and r.active_inputs.tolist() == [0.25, 0.0]
    assert r.activity.inputs.tolist() == [1, 0] and r.activity.total == 4


def test_state_keeps_k_edges_and_threshold():
    stats = ResponseStats(2, k=5, edges=[-1.0, 0.0, 1.0], active=0.5).update(torch.randn(3, 2, 4, 4))
    back = ResponseStats.from_state(load(save(stats.state_dict())))
    assert (back.top.k, back.peaks.bins, back.activity.threshold) == (5, 2, 0.5)
    assert_same(back.result(), stats.result())


def test_merge_refuses_other_settings():
    with pytest.raises(InputError, match="same k and score"):
        ResponseStats(2, k=3).merge(ResponseStats(2, k=4))
    with pytest.raises(InputError, match="the bin edges differ"):
        ResponseStats(2, edges=[0.0, 1.0]).merge(ResponseStats(2, edges=[0.0, 2.0]))
    with pytest.raises(InputError, match="activity thresholds differ"):
        ResponseStats(2, active=0.0).merge(ResponseStats(2, active=1.0))


def test_maps_of_another_channel_count_are_refused():
    with pytest.raises(InputError, match=r"got maps of shape \(1, 3, 2, 2\); it needs \(N, 2, \.\.\.\)"):
        ResponseStats(2).update(torch.zeros(1, 3, 2, 2))


def test_from_state_names_what_is_missing():
    state = {k: v for k, v in ResponseStats(2).state_dict().items() if not k.startswith("top_mean.")}
    with pytest.raises(InputError, match="expected .*top_mean"):
        ResponseStats.from_state(state)
