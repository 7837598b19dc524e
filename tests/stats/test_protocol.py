"""The protocol of every accumulator: any split of a dataset into batches, merged in any order (through
state_dict / from_state and safetensors too), equals one pass; merges refuse parts that do not fit."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.torch import load, save

from layerscope.errors import InputError
from layerscope.stats import Covariance, Extrema, Histogram, Moments

EDGES = [-2.0, -0.5, 0.0, 0.5, 2.0]
KINDS = {
    "moments": Moments,
    "extrema": Extrema,
    "covariance": Covariance,
    "histogram": lambda c: Histogram(c, EDGES),
}
EXACT = {"count", "nan", "posinf", "neginf", "min", "max", "edges", "counts", "underflow", "overflow"}

values = st.one_of(
    st.sampled_from([*EDGES, -3.0, 3.0, math.nan, math.inf, -math.inf]),
    st.floats(-3.0, 3.0, allow_nan=False),
)
datasets = arrays(np.float64, st.tuples(st.integers(1, 12), st.just(3), st.integers(1, 4)), elements=values)


def assert_same(a, b):
    """Counts, extrema and histograms to the bit; means, variances, covariances to float64 rounding."""
    for field in dataclasses.fields(a):
        x, y = np.asarray(getattr(a, field.name)), np.asarray(getattr(b, field.name))
        if field.name in EXACT:
            np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=field.name)


def merge_in_any_tree(parts, order):
    """Merge random pairs until one is left; every other merge goes through a state_dict round trip."""
    parts = list(parts)
    while len(parts) > 1:
        i, j = order.sample(range(len(parts)), 2)
        a, b = parts[i], parts[j]
        if order.random() < 0.5:
            b = type(b).from_state(b.state_dict())
        parts = [p for k, p in enumerate(parts) if k not in (i, j)] + [a.merge(b)]
    return parts[0]


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=40, deadline=None)
@given(data=datasets, cuts=st.lists(st.integers(1, 11), max_size=5, unique=True), order=st.randoms(use_true_random=False))
def test_any_split_in_any_merge_order_equals_one_pass(kind, data, cuts, order):
    make, x = KINDS[kind], torch.from_numpy(data)
    bounds = [0, *sorted(c for c in cuts if c < len(x)), len(x)]
    parts = [make(3).update(x[a:b]) for a, b in zip(bounds, bounds[1:])] + [make(3)]  # and one empty part
    assert_same(make(3).update(x).result(), merge_in_any_tree(parts, order).result())


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=20, deadline=None)
@given(data=datasets)
def test_streaming_updates_equal_one_pass(kind, data):
    make, x = KINDS[kind], torch.from_numpy(data)
    streamed = make(3)
    for batch in x.split(2):
        streamed.update(batch)
    assert_same(make(3).update(x).result(), streamed.result())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_state_survives_safetensors(kind):
    x = torch.tensor([[[-2.0, 0.25]], [[math.nan, 2.0]], [[math.inf, -0.5]]]).expand(3, 3, 2)
    acc = KINDS[kind](3).update(x)
    restored = type(acc).from_state(load(save(acc.state_dict())))
    assert_same(acc.result(), restored.result())
    assert_same(acc.merge(acc).result(), restored.merge(restored).result())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_empty_result_and_state(kind):
    acc = KINDS[kind](2)
    assert_same(acc.result(), type(acc).from_state(acc.state_dict()).result())
    assert_same(acc.result(), KINDS[kind](2).update(torch.zeros(0, 2, 5)).result())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_merge_refuses_another_channel_count(kind):
    with pytest.raises(InputError, match=r"channel counts differ \(3 vs 2\)"):
        KINDS[kind](2).merge(KINDS[kind](3))


def test_merge_refuses_another_kind():
    with pytest.raises(InputError, match=r"Cannot merge Extrema\(2\) into Moments\(2\): merge accumulators of one kind"):
        Moments(2).merge(Extrema(2))


def test_merge_refuses_other_bin_edges():
    with pytest.raises(InputError, match="the bin edges differ"):
        Histogram(2, [0.0, 1.0, 2.0]).merge(Histogram(2, [0.0, 1.0, 3.0]))
    with pytest.raises(InputError, match="the bin edges differ"):
        Histogram(2, [0.0, 1.0, 2.0]).merge(Histogram(2, [0.0, 2.0]))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_update_refuses_another_channel_count(kind):
    with pytest.raises(InputError, match=r"got a batch of shape \(4, 2\); it needs \(N, 3, \.\.\.\)"):
        KINDS[kind](3).update(torch.zeros(4, 2))


def test_channel_count_must_be_positive():
    with pytest.raises(InputError, match="positive channel count, got 0"):
        Moments(0)


def test_from_state_names_the_bad_entry():
    state = Moments(2).state_dict()
    with pytest.raises(InputError, match="unknown entry 'mena'. Did you mean 'mean'"):
        Moments.from_state({**state, "mena": state["mean"]})
    with pytest.raises(InputError, match="'m2' is missing"):
        Moments.from_state({k: v for k, v in state.items() if k != "m2"})
    with pytest.raises(InputError, match=r"'m2' has shape \(3,\), expected \(2,\)"):
        Moments.from_state({**state, "m2": torch.zeros(3)})


def test_results_and_state_dicts_are_copies():
    acc = Moments(1).update(torch.tensor([[1.0], [math.nan]]))
    acc.result().nan[0] = 7
    acc.state_dict()["count"][0] = 7
    assert acc.result().nan.tolist() == [1] and acc.result().count.tolist() == [1]


def test_numpy_batches_are_accepted():
    assert Extrema(2).update(np.array([[1.0, -1.0], [2.0, -3.0]])).result().min.tolist() == [1.0, -3.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_state_lives_on_the_batch_device_and_merges_across(kind):
    x = torch.linspace(-3, 3, 60, dtype=torch.float64).reshape(10, 3, 2)
    on_gpu = KINDS[kind](3).update(x[:5].cuda())
    assert all(v.is_cuda for v in on_gpu.state_dict().values())
    on_gpu.merge(KINDS[kind](3).update(x[5:]))
    assert_same(KINDS[kind](3).update(x).result(), on_gpu.result())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_to_moves_the_state_and_later_batches_join_it(kind):
    x = torch.linspace(-3, 3, 60, dtype=torch.float64).reshape(10, 3, 2)
    acc = type(KINDS[kind](3)).from_state(KINDS[kind](3).update(x[:5]).state_dict()).to("cpu")
    assert all(v.device.type == "cpu" for v in acc.state_dict().values())
    assert_same(KINDS[kind](3).update(x).result(), acc.update(x[5:]).result())
