"""Normalization modes: literal levels, an independent numpy oracle, and properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layerscope.errors import InputError
from layerscope.render.colormap import LEVELS, NONFINITE
from layerscope.render import _kernels
from layerscope.render.normalize import quantize, shared_range, value_ranges

TOP = LEVELS - 1  # 251


@pytest.fixture(autouse=True, scope="module", params=["numpy-kernels", "torch-kernels"])
def kernels(request):
    """Every test runs on both CPU paths: numpy ufuncs (the default) and torch ops (used on GPUs)."""
    saved = _kernels.NUMPY_ON_CPU
    _kernels.NUMPY_ON_CPU = request.param == "numpy-kernels"
    yield request.param
    _kernels.NUMPY_ON_CPU = saved


def _maps(*channels) -> torch.Tensor:
    return torch.tensor(channels, dtype=torch.float32)


def test_channel_mode_stretches_each_channel_alone():
    levels, norm = quantize(_maps([[0.0, 1.0, 2.0]], [[10.0, 20.0, 30.0]]), "channel")
    assert levels.tolist() == [[[0, 126, 251]], [[0, 126, 251]]]
    assert norm.vmin == (0.0, 10.0) and norm.vmax == (2.0, 30.0)


def test_layer_mode_shares_one_range():
    levels, norm = quantize(_maps([[0.0, 1.0]], [[2.0, 4.0]]), "layer")
    assert levels.tolist() == [[[0, 63]], [[126, 251]]]
    assert (norm.vmin, norm.vmax) == ((0.0,), (4.0,))


def test_global_mode_uses_the_given_range_and_clips():
    levels, norm = quantize(_maps([[-5.0, 0.0, 5.0, 10.0, 50.0]]), "global", value_range=(0.0, 10.0))
    assert levels.tolist() == [[[0, 0, 126, 251, 251]]]
    assert norm.describe() == "global range [0, 10]"


def test_global_mode_without_a_range_says_how_to_get_one():
    with pytest.raises(InputError, match="value_range=.*shared_range"):
        quantize(_maps([[0.0, 1.0]]), "global")


def test_signed_mode_is_zero_centred():
    levels, norm = quantize(_maps([[-1.0, 0.0, 4.0]]), "signed")
    assert levels.tolist() == [[[94, 126, 251]]]  # -1 of [-4, 4]: 251 * 3/8 = 94.1
    assert (norm.vmin, norm.vmax) == ((-4.0,), (4.0,))


def test_signed_layer_mode_uses_the_largest_magnitude_of_the_layer():
    lo, hi = value_ranges(_maps([[-1.0, 0.5]], [[0.0, 3.0]]), "signed-layer")
    assert lo.tolist() == [-3.0, -3.0] and hi.tolist() == [3.0, 3.0]


def test_robust_mode_clips_outliers_per_channel():
    row = [float(v) for v in range(99)] + [1e6]
    levels, norm = quantize(_maps([row]), "robust", percentiles=(0, 99))
    expected_hi = float(np.percentile(np.array(row), 99))
    assert norm.vmax[0] == pytest.approx(expected_hi)
    assert levels[0, 0, -1] == TOP and levels[0, 0, 0] == 0


@pytest.mark.parametrize("mode", ["robust", "robust-layer"])
def test_robust_ranges_match_numpy_nanpercentile(mode):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    data[0, 1, 2, 3] = np.nan
    data[1, 2, 0, 0] = np.inf
    lo, hi = value_ranges(torch.from_numpy(data), mode, percentiles=(5, 95))
    clean = np.where(np.isfinite(data), data, np.nan).astype(np.float64)
    axes = (1, 2, 3) if mode == "robust-layer" else (2, 3)
    want_lo = np.nanpercentile(clean, 5, axis=axes)
    want_hi = np.nanpercentile(clean, 95, axis=axes)
    if mode == "robust-layer":
        want_lo, want_hi = np.repeat(want_lo[:, None], 3, 1), np.repeat(want_hi[:, None], 3, 1)
    np.testing.assert_allclose(lo.numpy(), want_lo, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hi.numpy(), want_hi, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("mode", "level"), [("channel", 0), ("layer", 0), ("robust", 0), ("signed", 126), ("signed-layer", 126)]
)
def test_a_constant_channel_renders_flat(mode, level):
    levels, _ = quantize(torch.full((1, 3, 3), 7.0) if "signed" not in mode else torch.zeros(1, 3, 3), mode)
    assert levels.unique().tolist() == [level]


def test_nan_and_inf_are_marked_and_ignored_by_the_range():
    maps = _maps([[float("nan"), 1.0, float("inf"), 3.0, float("-inf")]])
    levels, norm = quantize(maps, "channel")
    assert levels.tolist() == [[[NONFINITE, 0, NONFINITE, TOP, NONFINITE]]]
    assert (norm.vmin, norm.vmax, norm.nonfinite) == ((1.0,), (3.0,), 3)
    assert "3 NaN/Inf marked magenta" in norm.describe()


def test_a_channel_with_nothing_finite_is_all_marker():
    levels, norm = quantize(torch.full((1, 2, 2), float("nan")), "channel")
    assert levels.unique().tolist() == [NONFINITE] and norm.vmin == (0.0,)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.uint8])
def test_any_dtype_gives_the_same_levels(dtype):
    maps = _maps([[0.0, 2.0, 4.0, 8.0]])
    levels, _ = quantize(maps.to(dtype), "channel")
    assert levels.tolist() == [[[0, 63, 126, 251]]]


def test_batched_maps_give_one_normalization_per_item():
    levels, norms = quantize(torch.stack([_maps([[0.0, 1.0]]), _maps([[0.0, 10.0]])]), "layer")
    assert levels.shape == (2, 1, 1, 2) and [n.vmax for n in norms] == [(1.0,), (10.0,)]


def test_unknown_mode_suggests_the_close_one():
    with pytest.raises(InputError, match="Unknown normalization 'chanel'. Did you mean 'channel'"):
        quantize(_maps([[0.0]]), "chanel")


@pytest.mark.parametrize("bad", [(99, 1), (-1, 50), (0, 101)])
def test_bad_percentiles_are_refused(bad):
    with pytest.raises(InputError, match="percentiles must be two numbers 0 <= low < high <= 100"):
        quantize(_maps([[0.0, 1.0]]), "robust", percentiles=bad)


def test_shared_range_spans_every_tensor_and_ignores_nonfinite():
    tensors = [_maps([[0.0, 2.0]]), _maps([[-3.0, float("nan")]]), torch.tensor([1.0, float("inf")])]
    assert shared_range(tensors) == (-3.0, 2.0)
    assert shared_range(tensors, "signed") == (-3.0, 3.0)
    assert shared_range([torch.arange(101.0)], "robust", percentiles=(10, 90)) == (10.0, 90.0)


# -- properties -----------------------------------------------------------------------------------------------

finite_floats = st.floats(-1e6, 1e6, allow_nan=False, width=32)
any_floats = st.floats(width=32)  # NaN, +-Inf and extremes included
MODES = ["channel", "layer", "robust", "robust-layer", "signed", "signed-layer"]


def _maps_strategy(elements):
    shapes = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5))
    return shapes.flatmap(lambda s: arrays(np.float32, s, elements=elements))


@settings(max_examples=60, deadline=None)
@given(data=_maps_strategy(any_floats), mode=st.sampled_from(MODES))
def test_levels_are_uint8_in_range_and_nonfinite_is_marked(data, mode):
    maps = torch.from_numpy(data)
    levels, norm = quantize(maps, mode)
    assert levels.dtype == torch.uint8 and levels.shape == maps.shape
    finite = np.isfinite(data)
    assert (levels.numpy()[finite] < LEVELS).all()
    assert (levels.numpy()[~finite] == NONFINITE).all()
    assert norm.nonfinite == int((~finite).sum())


@settings(max_examples=60, deadline=None)
@given(data=_maps_strategy(any_floats), mode=st.sampled_from(MODES + ["global"]))
def test_the_input_is_never_modified(data, mode):
    maps = torch.from_numpy(data.copy())
    before = maps.clone()
    quantize(maps, mode, value_range=(-1.0, 1.0))
    assert torch.equal(torch.isnan(maps), torch.isnan(before))
    assert torch.equal(maps.nan_to_num(0.0), before.nan_to_num(0.0))


@settings(max_examples=60, deadline=None)
@given(data=_maps_strategy(finite_floats), value=finite_floats)
def test_a_constant_channel_is_uniform(data, value):
    data = data.copy()
    data[0] = value
    levels, _ = quantize(torch.from_numpy(data), "channel")
    assert levels[0].unique().numel() == 1


@settings(max_examples=60, deadline=None)
@given(
    data=_maps_strategy(st.floats(-1e3, 1e3, allow_nan=False, width=32)),
    gain=st.floats(1e-2, 1e2),
    shift=st.floats(-1e3, 1e3),
)
def test_channel_min_max_is_invariant_to_positive_affine_maps(data, gain, shift):
    maps = torch.from_numpy(data).double()
    a, _ = quantize(maps, "channel")
    b, _ = quantize(maps * gain + shift, "channel")
    spread = maps.amax(dim=(1, 2)) - maps.amin(dim=(1, 2))
    wide = spread > 1e-3 * (maps.abs().amax(dim=(1, 2)) + 1.0)  # well-conditioned channels only
    diff = (a.int() - b.int()).abs()[wide]
    assert diff.numel() == 0 or int(diff.max()) <= 1  # at most one level of rounding
