"""percentiles: numpy.nanpercentile as the oracle, the fast (all finite) and sorted (NaN / Inf) paths agree."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layerscope.errors import InputError
from layerscope.stats import percentiles

rows_with_gaps = arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(1, 30)),
    elements=st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, 1.0, math.nan, math.inf, -math.inf])),
)
q = st.lists(st.floats(0, 100), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(data=rows_with_gaps, q=q)
def test_linear_matches_numpy_nanpercentile(data, q):
    got = percentiles(torch.from_numpy(data), q, 1)
    finite = np.where(np.isfinite(data), data, np.nan)
    with warnings.catch_warnings():  # numpy warns on rows without a finite value
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nan_to_num(np.nanpercentile(finite, q, axis=1), nan=0.0)
    np.testing.assert_allclose(torch.stack(got).numpy(), want, rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(data=rows_with_gaps, q=q)
def test_nearest_takes_the_nearest_rank_with_halves_to_even(data, q):
    got = torch.stack(percentiles(torch.from_numpy(data), q, 1, method="nearest")).numpy()
    for r, row in enumerate(data):
        finite = np.sort(row[np.isfinite(row)])
        for i, p in enumerate(q):
            want = finite[round((len(finite) - 1) * (p / 100.0))] if len(finite) else 0.0
            assert got[i, r] == want


@pytest.mark.parametrize("method", ["linear", "nearest"])
def test_finite_rows_give_the_same_alone_and_beside_a_row_with_nan(method):
    x = torch.randn(2, 101, generator=torch.Generator().manual_seed(0))
    alone = percentiles(x, (1, 37.5, 99), 1, method=method)
    x_gap = x.clone()
    x_gap[1, 0] = math.nan
    beside = percentiles(x_gap, (1, 37.5, 99), 1, method=method)
    assert [float(v[0]) for v in alone] == [float(v[0]) for v in beside]


def test_several_and_negative_dims_and_all_dims():
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert percentiles(x, (50,), (-2, -1))[0].tolist() == [5.5, 17.5]
    assert percentiles(x, (50,), (0, 2))[0].tolist() == percentiles(x.permute(1, 0, 2).reshape(3, -1), (50,), 1)[0].tolist()
    assert percentiles(x, (0, 100))[0].item() == 0.0 and percentiles(x, (0, 100))[1].item() == 23.0


def test_dtype_is_kept_and_integers_become_float64():
    assert percentiles(torch.ones(3, dtype=torch.float32), (50,))[0].dtype == torch.float32
    assert percentiles(torch.tensor([1, 2]), (50,))[0].item() == 1.5


def test_no_finite_value_or_no_value_gives_zero():
    assert percentiles(torch.tensor([[math.nan, math.inf], [1.0, 2.0]]), (50,), 1)[0].tolist() == [0.0, 1.5]
    assert percentiles(torch.zeros(3, 0), (50,), 1)[0].tolist() == [0.0, 0.0, 0.0]


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="Unknown percentile method 'neares'. Did you mean 'nearest'"):
        percentiles(torch.ones(3), (50,), method="neares")
    with pytest.raises(InputError, match=r"must lie in 0..100, got \(1, 101\)"):
        percentiles(torch.ones(3), (1, 101))
