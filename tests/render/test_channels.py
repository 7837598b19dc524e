"""Channel ranking scores against numpy, NaN-aware."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.errors import InputError
from layerscope.render.channels import channel_scores, pick_channels


def _data() -> np.ndarray:
    data = np.random.default_rng(7).standard_normal((2, 5, 4, 6)).astype(np.float32)
    data[0, 1, 0, 0] = np.nan
    data[1, 3, 2, 2] = np.inf
    return data


@pytest.mark.parametrize(
    ("order", "oracle"),
    [("mean", np.nanmean), ("max", np.nanmax), ("std", np.nanstd), ("active", lambda v, axis: (v > 0).mean(axis))],
)
def test_scores_match_numpy_on_the_finite_values(order, oracle):
    data = _data()
    clean = np.where(np.isfinite(data), data, np.nan).reshape(2, 5, -1)
    want = oracle(clean, axis=-1) if order != "active" else (data.reshape(2, 5, -1) > 0).mean(-1)
    got = channel_scores(torch.from_numpy(data), order).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_map_without_finite_values_ranks_last():
    maps = torch.stack([torch.full((2, 2), float("nan")), torch.zeros(2, 2), torch.ones(2, 2)])
    assert pick_channels(maps, "mean").tolist() == [2, 1, 0]


def test_index_order_is_rejected_as_a_score():
    with pytest.raises(InputError, match="rank by one of: mean, max, std, active"):
        channel_scores(torch.zeros(1, 2, 2), "index")
