"""Channel correlation (against numpy's corrcoef) and the Hungarian match, square and rectangular."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.comparison import ChannelCorrelation, match_channels
from layerscope.comparison.grids import shared_range
from layerscope.errors import InputError


def _maps(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_correlations_equal_numpy_corrcoef_over_inputs_and_positions_in_any_batches():
    a, b = _maps(0, 6, 3, 4, 5), _maps(1, 6, 2, 4, 5)
    b[:, 1] += 2 * a[:, 0]
    corr = ChannelCorrelation(3, 2).update(a[:2], b[:2]).update(a[2:], b[2:]).result()
    rows = lambda m: m.transpose(0, 1).reshape(m.shape[1], -1).double().numpy()  # noqa: E731
    expected = np.corrcoef(np.concatenate([rows(a), rows(b)]))[:3, 3:]
    np.testing.assert_allclose(corr, expected, atol=1e-6)


def test_a_known_permutation_is_recovered():
    a = _maps(2, 5, 8, 6, 6)
    perm = [5, 2, 7, 0, 1, 6, 3, 4]  # B's channel k is A's channel perm[k]
    match = match_channels(ChannelCorrelation(8, 8).update(a, a[:, perm]).result(), "x", "x")
    assert [perm[j] for j in match.b] == match.a.tolist()
    np.testing.assert_allclose(match.correlation, 1.0, atol=1e-6)
    assert len(match.moved) == 8


def test_rectangular_match_pairs_every_channel_of_the_smaller_side():
    a = _maps(3, 4, 3, 5, 5)
    b = _maps(4, 4, 5, 5, 5) * 0.1
    b[:, [4, 0, 2]] += a  # A's channels live at B's 4, 0 and 2, under a little noise
    match = match_channels(ChannelCorrelation(3, 5).update(a, b).result())
    assert match.a.tolist() == [0, 1, 2] and match.b.tolist() == [4, 0, 2]


def test_maps_of_different_sizes_are_pooled_to_the_smaller():
    a = _maps(5, 3, 2, 8, 8)
    pooled = torch.nn.functional.avg_pool2d(a, 2)
    corr = ChannelCorrelation(2, 2)
    corr.update(a, pooled[:, [1, 0]])
    assert corr.pooled and match_channels(corr.result()).b.tolist() == [1, 0]


def test_a_constant_channel_has_no_correlation_but_is_still_assigned():
    a = _maps(6, 4, 2, 3, 3)
    a[:, 1] = 0.5
    corr = ChannelCorrelation(2, 2).update(a, a).result()
    assert np.isnan(corr[1]).all() and not np.isnan(corr[0, 0])
    assert match_channels(corr).b.tolist() == [0, 1]


def test_order_changed_puts_the_least_correlated_first():
    match = match_channels(np.array([[0.9, 0.0], [0.0, 0.2]]))
    assert match.order("changed").tolist() == [1, 0]
    with pytest.raises(InputError, match="Unknown order 'worst'"):
        match.order("worst")


def test_shared_range_spans_both_sides_and_ignores_non_finite_values():
    assert shared_range(torch.tensor([0.0, float("nan")]), torch.tensor([3.0, float("inf")])) == (0.0, 3.0)
    assert shared_range(torch.ones(2), torch.ones(2)) == (1.0, 2.0)


@pytest.mark.parametrize(("args", "match"), [
    ((torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, 4, 4)), r"ChannelCorrelation\(2, 2\) got maps \(2, 3, 4, 4\)"),
    ((torch.zeros(2, 2, 4, 4), torch.zeros(3, 2, 4, 4)), r"it needs \(N, 2, H, W\)"),
])
def test_bad_maps_are_refused(args, match):
    with pytest.raises(InputError, match=match):
        ChannelCorrelation(2, 2).update(*args)


def test_a_match_without_maps_cannot_draw():
    with pytest.raises(InputError, match="no maps to draw"):
        match_channels(np.eye(2)).grids()
