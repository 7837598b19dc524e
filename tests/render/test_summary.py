"""Layer summaries against numpy oracles, and the shallow-to-deep progression strip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layerscope.capturing import Recorder
from layerscope.errors import InputError, LayerNotFoundError, LayoutError
from layerscope.render.summary import progression_strip, summarize, summary_panel

from ._golden import assert_matches_golden

ORACLES = {
    "mean": lambda a: a.mean(axis=-3),
    "max": lambda a: a.max(axis=-3),
    "l2": lambda a: np.sqrt((a.astype(np.float64) ** 2).sum(axis=-3)),
}

finite_maps = arrays(
    np.float32,
    st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 4)),
    elements=st.floats(-1e3, 1e3, width=32),
)


@pytest.mark.parametrize("mode", ["mean", "max", "l2"])
@settings(max_examples=40, deadline=None)
@given(array=finite_maps)
def test_summary_matches_numpy(mode, array):
    before = array.copy()
    result = summarize(torch.from_numpy(array), mode)
    np.testing.assert_allclose(result.numpy(), ORACLES[mode](array), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(array, before)


def test_summary_literals_and_batch():
    maps = torch.tensor([[[[3.0, -1.0]], [[4.0, 1.0]]]])  # (1, 2, 1, 2)
    assert summarize(maps, "mean").tolist() == [[[3.5, 0.0]]]
    assert summarize(maps, "max").tolist() == [[[4.0, 1.0]]]
    assert summarize(maps, "l2").tolist() == [[[5.0, pytest.approx(2**0.5)]]]


def test_summary_rejects_bad_input():
    with pytest.raises(InputError, match=r"Unknown summary 'median'; use one of mean, max, l2"):
        summarize(torch.zeros(2, 3, 3), "median")
    with pytest.raises(InputError, match=r"\(C, H, W\) or \(N, C, H, W\), got \(3, 3\).*to_maps"):
        summarize(torch.zeros(3, 3))


def hand_set_acts() -> dict[str, torch.Tensor]:
    ramp = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    conv1 = torch.cat([ramp, -ramp], dim=1) * torch.tensor([1.0, 0.5]).view(1, 2, 1, 1)
    conv2 = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]], [[3.0, 0.0], [0.0, 0.0]]]])
    tokens = torch.arange(5 * 2, dtype=torch.float32).reshape(1, 5, 2)  # CLS + 2x2 grid
    return {"conv1": conv1, "block.conv2": conv2, "vit.tokens": tokens, "fc": torch.tensor([[0.0, 2.0, 1.0]])}


def test_progression_strip_golden_nearest():
    strip = progression_strip(hand_set_acts(), height=16, label_width=48)
    assert_matches_golden(strip, "progression_nearest.png")


def test_progression_strip_golden_bilinear_without_labels():
    strip = progression_strip(hand_set_acts(), height=12, resize="bilinear", labels=False, cmap="gray", gap=2)
    assert_matches_golden(strip, "progression_bilinear_gray.png")


def test_progression_panels_share_height_and_keep_order():
    acts = {"a": torch.rand(1, 2, 8, 8), "b": torch.rand(1, 2, 4, 8), "c": torch.rand(1, 2, 2, 2)}
    strip = progression_strip(acts, height=8, labels=False, gap=1, resize="nearest")
    assert strip.shape == (8, 8 + 1 + 16 + 1 + 8, 3)
    assert (strip[:, 8] == 255).all() and (strip[:, 25] == 255).all()  # white gaps between panels


def test_progression_uses_the_chosen_input_of_the_batch():
    acts = {"a": torch.stack([torch.zeros(1, 2, 2), torch.eye(2)[None]])}
    first = progression_strip(acts, index=0, height=2, labels=False)
    second = progression_strip(acts, index=1, height=2, labels=False)
    assert len(np.unique(first.reshape(-1, 3), axis=0)) == 1 and not np.array_equal(first, second)


def test_progression_on_captured_model_and_errors():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3, stride=2))
    with Recorder(model, None) as rec:
        acts = rec(torch.randn(2, 3, 16, 16))
    strip = progression_strip(acts, index=1, height=20)
    assert strip.shape[0] == 20 + 2 * 11 + 4
    with pytest.raises(InputError, match=r"index=2 is out of range for layer '1' with batch size 2"):
        progression_strip(acts, index=2)
    with pytest.raises(LayerNotFoundError, match="'00'"):
        progression_strip(acts, layers=["00"])
    with pytest.raises(LayoutError, match=r"^layer 'x': .*\(1, 34, 3\)"):
        progression_strip({"x": torch.zeros(1, 34, 3)})
    assert progression_strip({"x": torch.zeros(1, 34, 3)}, layouts={"x": "NLC"}).shape[0] == 64 + 26


def test_summary_panel_caps_the_width_of_strips():
    panel = summary_panel(torch.rand(1, 1, 1000), height=10, max_aspect=4.0)
    assert panel.shape == (10, 40, 3)


def test_progression_does_not_mutate_inputs():
    acts = hand_set_acts()
    before = {k: v.clone() for k, v in acts.items()}
    progression_strip(acts, resize="bilinear")
    assert all(torch.equal(acts[k], before[k]) for k in acts)


def test_signed_panels_centre_zero_on_a_diverging_colormap():
    panel = summary_panel(torch.tensor([[[-2.0, 0.0, 2.0]]]), height=1, normalize="signed")
    (blue, white, red) = panel[0].astype(int)
    assert blue[2] > blue[0] and red[0] > red[2] and (white > 230).all()  # RdBu_r: negative blue, 0 white


def test_summarize_takes_the_maps_of_a_layout():
    from layerscope.render import to_maps

    tokens = torch.randn(1, 1 + 16, 8)  # CLS + a 4x4 grid of 8-dim tokens
    laid_out = to_maps(tokens, layout="tokens")
    assert torch.equal(summarize(laid_out), summarize(laid_out.maps))
    assert summarize(laid_out).shape == (1, 4, 4)
