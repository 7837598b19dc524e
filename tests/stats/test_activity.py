"""Activity: literal counts, the threshold, NaN never active, exact merges, the threshold kept in the state."""

import math

import pytest
import torch
from safetensors.torch import load, save

from layerscope.errors import InputError
from layerscope.stats import Activity


def test_literal_counts_with_a_threshold_and_nan():
    maps = torch.tensor([[[0.5, 2.0, math.nan]], [[3.0, math.inf, -1.0]]])  # (N=2, C=1, 3)
    r = Activity(1, threshold=1.0).update(maps).result()
    assert (r.positions.tolist(), r.values.tolist(), r.inputs.tolist(), r.total) == ([3], [6], [2], 2)
    assert r.position_share.tolist() == [0.5] and r.input_share.tolist() == [1.0]


def test_merges_add_and_states_keep_the_threshold():
    a = Activity(2, threshold=0.5).update(torch.ones(3, 2, 4))
    b = Activity.from_state(load(save(Activity(2, threshold=0.5).update(torch.zeros(1, 2, 4)).state_dict())))
    r = a.merge(b).result()
    assert (r.positions.tolist(), r.inputs.tolist(), r.total, r.threshold) == ([12, 12], [3, 3], 4, 0.5)


def test_merge_refuses_another_threshold():
    with pytest.raises(InputError, match="activity thresholds differ"):
        Activity(1, threshold=0.0).merge(Activity(1, threshold=0.1))
