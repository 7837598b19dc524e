"""The scan's and the diagnosis's one pass over the maps (stats._reduce): block by block, the argmax and the
clamp-bound counts in the same pass, a map's bits whatever its batch, block or neighbours."""

import math

import numpy as np
import pytest
import torch

from layerscope.stats import ChannelStats
from layerscope.stats._reduce import BLOCK, reduce_maps, reduce_together
from layerscope.stats.channels import update_together


def _relu6(shape, seed):
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3).clamp(0, 6)


@pytest.mark.parametrize("shape", [(1, 1, 7, 7), (3, 4, 5, 5), (1, 1, 600, 600), (2, 3, 300, 300)])
def test_argmax_and_bound_counts_match_plain_torch(shape):
    x = _relu6(shape, sum(shape))
    x.view(-1)[:: max(1, x.numel() // 7)] = 6.0  # ties at the max: the first one is kept
    r = reduce_maps(x, argmax=True, bounds=(0.01, 5.5))
    flat = x.reshape(shape[0], shape[1], -1)
    assert torch.equal(r.index, flat.argmax(-1))
    assert torch.equal(r.hits, ((flat <= 0.01) | (flat >= 5.5)).sum(-1).double())
    assert torch.equal(r.positives, (flat > 0).sum(-1))
    assert torch.equal(r.max, flat.amax(-1).double()) and torch.equal(r.min, flat.amin(-1).double())


def test_a_map_has_the_same_bits_alone_in_a_batch_and_across_blocks():
    big = _relu6((4, 1, 600, 600), 1)  # over BLOCK values a map: one block of two rows at least
    assert big[0, 0].numel() > BLOCK
    alone, batch = reduce_maps(big[:1]), reduce_maps(big)
    small = _relu6((40, 64, 14, 14), 2)  # many blocks of many rows
    for name in ("mean", "m2", "min", "max", "positives"):
        assert torch.equal(getattr(alone, name)[0], getattr(batch, name)[0]), name
        assert torch.equal(getattr(reduce_maps(small[7:8]), name)[0], getattr(reduce_maps(small), name)[7]), name


def test_nan_maps_leave_their_neighbours_in_float32():
    x = _relu6((2, 3, 8, 8), 3)
    odd = x.clone()
    odd[1, 2, 0, 0] = math.nan
    odd[0, 1, 3, 3] = math.inf
    r, clean = reduce_maps(odd, argmax=True, bounds=(None, 5.0)), reduce_maps(x)
    keep = torch.ones(2, 3, dtype=torch.bool)
    keep[1, 2] = keep[0, 1] = False
    assert torch.equal(r.mean[keep], clean.mean[keep]) and torch.equal(r.m2[keep], clean.m2[keep])
    assert r.nan[1, 2] == 1 and r.posinf[0, 1] == 1 and r.count[1, 2] == 63
    assert r.hits[0, 1] == ((x[0, 1] >= 5.0).sum() - (x[0, 1, 3, 3] >= 5.0).long() + 1)  # +Inf is on the bound


def test_a_dominating_mean_is_reduced_in_float64():
    x = (1000.0 + 1e-3 * torch.randn(3, 2, 16, 16, generator=torch.Generator().manual_seed(4))).float()
    r = reduce_maps(x)
    v = x.double().reshape(3, 2, -1)
    np.testing.assert_allclose(r.m2.numpy(), ((v - v.mean(-1, keepdim=True)) ** 2).sum(-1).numpy(), rtol=1e-12)


def test_reduced_together_equals_one_by_one():
    maps = [_relu6((2, c, 9, 9), c) for c in (3, 5, 1)]
    for alone, joined in zip((reduce_maps(m, argmax=True, bounds=(None, 5.9)) for m in maps),
                             reduce_together(maps, argmax=True, bounds=(None, 5.9))):
        for name in ("count", "mean", "m2", "min", "max", "peak", "positives", "index", "hits"):
            assert torch.equal(getattr(alone, name), getattr(joined, name)), name


def test_update_together_equals_one_update_per_layer():
    maps = [_relu6((2, 4, 6, 6), 5), _relu6((2, 3, 6, 6), 6), _relu6((2, 5, 3, 3), 7)]
    kw = [dict(bounds=(None, 6.0)), dict(bounds=(None, 6.0)), dict()]
    together = [ChannelStats(m.shape[1], **k) for m, k in zip(maps, kw)]
    update_together([(s, m, None) for s, m in zip(together, maps)])
    for s, m, k in zip(together, maps, kw):
        a, b = s.result(), ChannelStats(m.shape[1], **k).update(m).result()
        for name in ("mean", "std", "min", "max", "inactive", "at_bound", "spatial_std", "noise", "peak_row"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
