"""Moments and Extrema: literal values, numpy as the oracle, NaN / Inf kept apart."""

import math
import warnings

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layerscope.stats import Extrema, Moments
from layerscope.stats.moments import chan_merge

NAN, INF = math.nan, math.inf


def test_literal_values_with_nan_and_inf():
    x = torch.tensor([[1.0, NAN, 0.0], [3.0, INF, 0.0], [5.0, -INF, 0.0], [7.0, 2.0, 0.0]])
    m = Moments(3).update(x).result()
    assert m.count.tolist() == [4, 1, 4]
    assert m.mean.tolist() == [4.0, 2.0, 0.0]
    assert m.var.tolist() == [5.0, 0.0, 0.0]
    assert m.std.tolist() == [math.sqrt(5.0), 0.0, 0.0]
    assert m.rms.tolist() == [math.sqrt(21.0), 2.0, 0.0]
    assert (m.nan.tolist(), m.posinf.tolist(), m.neginf.tolist()) == ([0, 1, 0], [0, 1, 0], [0, 1, 0])
    assert m.values.tolist() == [4, 4, 4]
    e = Extrema(3).update(x).result()
    assert (e.min.tolist(), e.max.tolist()) == ([1.0, 2.0, 0.0], [7.0, 2.0, 0.0])


def test_a_channel_without_finite_values_has_nan_moments_and_extrema():
    x = torch.tensor([[NAN, 1.0], [INF, 2.0]])
    m, e = Moments(2).update(x).result(), Extrema(2).update(x).result()
    assert math.isnan(m.mean[0]) and math.isnan(m.var[0]) and m.count.tolist() == [0, 2]
    assert math.isnan(e.min[0]) and math.isnan(e.max[0]) and e.max[1] == 2.0


def test_values_on_every_dim_but_the_channels_are_pooled():
    x = torch.arange(24.0).reshape(2, 3, 4)  # channel c holds 4c..4c+3 and 12+4c..12+4c+3
    m = Moments(3).update(x).result()
    assert m.mean.tolist() == [7.5, 11.5, 15.5]
    assert Extrema(3).update(x).result().max.tolist() == [15.0, 19.0, 23.0]


def test_chan_merge_of_two_halves_is_the_whole():
    n, mean, m2 = chan_merge(*[torch.tensor([v], dtype=torch.float64) for v in (2.0, 1.0, 2.0, 2.0, 5.0, 2.0)])
    assert (n.item(), mean.item(), m2.item()) == (4.0, 3.0, 20.0)  # [0, 2] and [4, 6]


def test_chan_merge_into_nothing_keeps_huge_means_finite():
    zero = torch.zeros(1, dtype=torch.float64)
    _, mean, m2 = chan_merge(zero, zero, zero, torch.ones(1, dtype=torch.float64), torch.tensor([1e200], dtype=torch.float64), zero)
    assert (mean.item(), m2.item()) == (1e200, 0.0)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)),
              elements=st.one_of(st.floats(-1e6, 1e6), st.sampled_from([NAN, INF, -INF]))))
def test_numpy_oracle(data):
    m, e = Moments(data.shape[1]).update(data).result(), Extrema(data.shape[1]).update(data).result()
    finite = np.where(np.isfinite(data), data, np.nan)
    with warnings.catch_warnings():  # numpy warns on all-NaN columns
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(m.mean, np.nanmean(finite, 0), rtol=1e-9, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(m.var, np.nanvar(finite, 0), rtol=1e-9, atol=1e-3, equal_nan=True)
        np.testing.assert_array_equal(e.min, np.nanmin(finite, 0))
        np.testing.assert_array_equal(e.max, np.nanmax(finite, 0))
    assert m.count.tolist() == np.isfinite(data).sum(0).tolist()
    assert m.nan.tolist() == np.isnan(data).sum(0).tolist()
    assert m.posinf.tolist() == (data == INF).sum(0).tolist()
