"""The scan loop: each batch's reductions run behind the reading of the next, in order; what they raise surfaces."""

import threading

import pytest
import torch
import torch.nn as nn

import layerscope as ls
from layerscope.errors import InputError


class Sometimes(nn.Module):
    """``extra`` runs only on batches whose first value is positive."""

    def __init__(self):
        super().__init__()
        self.conv, self.extra = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 1)

    def forward(self, x):
        y = self.conv(x)
        return self.extra(y) if float(x.flatten()[0]) > 0 else y


def test_an_error_in_the_background_reductions_surfaces_and_leaves_no_thread(tmp_path):
    data = torch.rand(12, 1, 8, 8) + 0.1
    data[0, 0, 0, 0] = -1.0  # `extra` runs from the second batch of 4 on: a layer the first batch did not have
    before = threading.active_count()
    with pytest.raises(InputError, match="gave no output on earlier batches"):
        ls.scan(Sometimes().eval(), data, ["conv", "extra"], out=tmp_path, batch_size=4, progress=False)
    assert threading.active_count() == before


def test_reductions_behind_the_reading_equal_one_batch_at_a_time(tmp_path):
    torch.manual_seed(0)
    model, data = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Conv2d(3, 2, 3)).eval(), torch.randn(40, 1, 10, 10)
    batched = ls.scan(model, data, out=tmp_path / "a", batch_size=8, k=3, progress=False)
    whole = ls.stats.ResponseStats(2, k=3)
    with torch.no_grad():
        for start in range(0, 40, 8):  # the same batches, reduced in the caller's thread
            whole.update(model(data[start:start + 8]), torch.arange(start, start + 8))
    got, expected = batched["2"], whole.result()
    assert got.top.index.tolist() == expected.top.index.tolist()
    assert got.max.tolist() == expected.max.tolist() and got.mean.tolist() == pytest.approx(expected.mean.tolist())
