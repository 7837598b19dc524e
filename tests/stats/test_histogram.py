"""Histogram: literal bins (edges included as numpy does), numpy as the oracle, per-channel edges, bad edges."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layerscope.errors import InputError
from layerscope.stats import Histogram

EDGES = [-1.0, 0.0, 0.5, 2.0]


def test_literal_bins_with_edges_outliers_and_non_finite_values():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.9, 2.0, 2.1, -1.1, math.nan, math.inf, -math.inf])[:, None]
    r = Histogram(1, EDGES).update(x).result()
    assert r.counts.tolist() == [[2, 1, 3]]  # [-1, 0), [0, 0.5), [0.5, 2] with 2.0 in the last bin
    assert (r.underflow.tolist(), r.overflow.tolist(), r.nan.tolist()) == ([2], [2], [1])
    assert r.edges.tolist() == [EDGES]


def test_edges_per_channel():
    edges = torch.tensor([[0.0, 1.0, 2.0], [0.0, 10.0, 20.0]])
    x = torch.tensor([[0.5, 15.0], [1.5, 5.0], [1.0, 25.0]])
    r = Histogram(2, edges).update(x).result()
    assert r.counts.tolist() == [[1, 2], [1, 1]] and r.overflow.tolist() == [0, 1]


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 3)),
              elements=st.one_of(st.floats(-3, 3), st.sampled_from([*EDGES, math.nan, math.inf, -math.inf]))))
def test_numpy_oracle(data):
    r = Histogram(data.shape[1], EDGES).update(data).result()
    for c in range(data.shape[1]):
        column = data[:, c]
        assert r.counts[c].tolist() == np.histogram(column[np.isfinite(column)], bins=EDGES)[0].tolist()
        assert r.underflow[c] == (column < EDGES[0]).sum()
        assert r.overflow[c] == (column > EDGES[-1]).sum()
        assert r.nan[c] == np.isnan(column).sum()


@pytest.mark.parametrize(
    "edges, match",
    [([0.0], r"shape \(B\+1,\) or \(2, B\+1\)"), ([[0.0, 1.0]] * 3, r"got shape \(3, 2\)"),
     ([0.0, 0.0, 1.0], "strictly increasing"), ([0.0, math.inf], "finite"), (["a", "b"], "must be numbers")],
)
def test_bad_edges_are_refused(edges, match):
    with pytest.raises(InputError, match=match):
        Histogram(2, edges)


def test_merged_counts_add():
    a = Histogram(1, EDGES).update(torch.tensor([[0.1], [3.0]]))
    b = Histogram(1, EDGES).update(torch.tensor([[0.2], [math.nan]]))
    r = a.merge(b).result()
    assert r.counts.tolist() == [[0, 2, 0]] and r.overflow.tolist() == [1] and r.nan.tolist() == [1]
