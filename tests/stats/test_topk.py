"""TopK: a numpy oracle, ties by (score desc, index asc), any split with any global indices merged in any
order equals one pass exactly, NaN last, overlap and mismatch refused."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.torch import load, save

from layerscope.errors import InputError
from layerscope.stats import TopK


def oracle(maps: np.ndarray, index: np.ndarray, k: int, by: str):
    """Per channel: sort the inputs by (-score, index), keep k; position = first argmax of the map."""
    flat = maps.reshape(maps.shape[0], maps.shape[1], -1).astype(np.float64)
    if by == "max":
        score = np.where(np.isnan(flat), -np.inf, flat).max(-1)
    else:
        finite = np.isfinite(flat)
        with np.errstate(invalid="ignore"):
            score = np.where(finite, flat, 0).sum(-1) / finite.sum(-1)
    score = np.where(np.isnan(score), -np.inf, score)
    where = np.where(np.isnan(flat), -np.inf, flat).argmax(-1)
    scores, indices, positions = [], [], []
    for c in range(maps.shape[1]):
        order = sorted(range(len(index)), key=lambda n: (-score[n, c], index[n]))[:k]
        pad = k - len(order)
        scores.append([score[n, c] for n in order] + [np.nan] * pad)
        indices.append([index[n] for n in order] + [-1] * pad)
        positions.append([where[n, c] for n in order] + [-1] * pad)
    return np.array(scores, np.float64), np.array(indices), np.array(positions)


def assert_result(result, expected):
    score, index, position = expected
    np.testing.assert_array_equal(result.score, score)
    np.testing.assert_array_equal(result.index, index)
    np.testing.assert_array_equal(result.position, position)


values = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2.5, math.nan, math.inf]), st.floats(-3, 3, width=32))
datasets = arrays(np.float32, st.tuples(st.integers(1, 14), st.just(3), st.integers(1, 3), st.integers(1, 3)),
                  elements=values)


@pytest.mark.parametrize("by", ["max", "mean"])
@settings(max_examples=40, deadline=None)
@given(data=datasets, k=st.integers(1, 5), cuts=st.lists(st.integers(1, 13), max_size=4, unique=True),
       order=st.randoms(use_true_random=False), spread=st.integers(1, 1000))
def test_any_split_in_any_merge_order_equals_one_pass_and_the_oracle(by, data, k, cuts, order, spread):
    index = np.arange(len(data)) * spread + 3  # global indices: any increasing numbers
    perm = np.array(order.sample(range(len(data)), len(data)))  # parts see the inputs in any order
    data, index = data[perm], index[perm]
    bounds = [0, *sorted(c for c in cuts if c < len(data)), len(data)]
    parts = [TopK(3, k, by).update(torch.from_numpy(data[a:b]), index=torch.from_numpy(index[a:b]))
             for a, b in zip(bounds, bounds[1:])]
    while len(parts) > 1:
        i, j = order.sample(range(len(parts)), 2)
        other = TopK.from_state(load(save(parts[j].state_dict()))) if order.random() < 0.5 else parts[j]
        parts = [p for n, p in enumerate(parts) if n not in (i, j)] + [parts[i].merge(other)]
    one = TopK(3, k, by).update(torch.from_numpy(data), index=torch.from_numpy(index))
    assert_result(parts[0].result(), oracle(data, index, k, by))
    assert_result(one.result(), oracle(data, index, k, by))


def test_ties_rank_the_lower_global_index_first():
    maps = torch.ones(4, 1, 2, 2)
    top = TopK(1, k=3).update(maps[:2], index=torch.tensor([9, 4])).merge(TopK(1, k=3).update(maps[2:], index=torch.tensor([7, 1])))
    assert top.result().index.tolist() == [[1, 4, 7]]


def test_literal_positions_are_the_first_argmax_in_row_major_order():
    maps = torch.tensor([[[[0.0, 3.0, 1.0], [3.0, 0.0, 0.0]]]])
    assert TopK(1, k=1).update(maps).result().position.tolist() == [[1]]


def test_fewer_inputs_than_k_leave_empty_slots():
    r = TopK(2, k=3).update(torch.tensor([[[1.0], [2.0]]])).result()
    assert r.index.tolist() == [[0, -1, -1], [0, -1, -1]]
    assert r.score[0, 0] == 1.0 and np.isnan(r.score[0, 1:]).all() and r.position.tolist()[1] == [0, -1, -1]


def test_default_indices_continue_from_the_inputs_seen():
    top = TopK(1, k=2).update(torch.tensor([[1.0], [0.0]])).update(torch.tensor([[5.0]]))
    assert top.result().index.tolist() == [[2, 0]]


def test_a_map_of_nan_ranks_after_every_number():
    maps = torch.tensor([[[math.nan, math.nan]], [[-5.0, -6.0]]])
    assert TopK(1, k=2).update(maps).result().index.tolist() == [[1, 0]]


def test_merge_refuses_parts_that_share_an_input():
    a = TopK(1, k=2).update(torch.ones(2, 1, 1), index=torch.tensor([0, 1]))
    with pytest.raises(InputError, match=r"input 1 is in both \(channel 0\); merge parts that cover disjoint inputs"):
        a.merge(TopK(1, k=2).update(torch.ones(1, 1, 1), index=torch.tensor([1])))


def test_merge_refuses_another_k_or_score():
    with pytest.raises(InputError, match="same k and score"):
        TopK(2, k=2).merge(TopK(2, k=3))
    with pytest.raises(InputError, match="same k and score"):
        TopK(2, by="max").merge(TopK(2, by="mean"))


@pytest.mark.parametrize("bad, message", [
    (dict(k=0), "positive int; got 0"),
    (dict(by="median"), "by='median' is unknown. Did you mean 'mean'"),
])
def test_bad_settings_are_named(bad, message):
    with pytest.raises(InputError, match=message):
        TopK(2, **bad)


def test_indices_must_be_one_integer_per_input():
    with pytest.raises(InputError, match=r"must be 2 integer input indices \(one per input\), got shape \(3,\)"):
        TopK(1).update(torch.zeros(2, 1, 3), index=torch.tensor([0, 1, 2]))
    with pytest.raises(InputError, match="non-negative"):
        TopK(1).update(torch.zeros(1, 1, 3), index=torch.tensor([-1]))


def test_state_survives_safetensors_with_k_and_score():
    top = TopK(2, k=4, by="mean").update(torch.randn(6, 2, 3, 3), index=torch.arange(10, 16))
    back = TopK.from_state(load(save(top.state_dict())))
    assert (back.k, back.by) == (4, "mean")
    assert_result(back.result(), (top.result().score, top.result().index, top.result().position))
