"""Layout inference on hand-made tensors: tokens, NHWC, 1-D, 3-D, vectors, overrides and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.capturing import Activations, LayerInfo
from layerscope.errors import InputError, LayerNotFoundError, LayoutError
from layerscope.core.layout import layer_maps, to_maps, token_grid


def numbered(*shape: int) -> torch.Tensor:
    return torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape)


@pytest.mark.parametrize(
    "length, extra, side",
    [(196, 0, 14), (197, 1, 14), (198, 2, 14), (201, 5, 14), (17, 1, 4), (50, 1, 7), (264, 8, 16)],
)
def test_token_count_gives_extra_and_square_grid(length, extra, side):
    maps = to_maps(torch.zeros(1, length, 12))
    assert (maps.layout, maps.extra_tokens, tuple(maps.maps.shape)) == ("tokens", extra, (1, 12, side, side))


def test_tokens_become_row_major_grid_after_the_cls_token():
    x = numbered(2, 1 + 3 * 3, 5)
    maps = to_maps(x).maps
    for row in range(3):
        for col in range(3):
            assert torch.equal(maps[:, :, row, col], x[:, 1 + row * 3 + col, :])


def test_tokens_notes_name_the_dropped_tokens():
    assert to_maps(torch.zeros(1, 197, 8)).notes == [
        "tokens: dropped 1 leading token (CLS) of 197, the rest is a 14x14 grid of 8 channels"
    ]
    assert "distillation" in to_maps(torch.zeros(1, 198, 8)).notes[0]
    assert "CLS + 4 register tokens" in to_maps(torch.zeros(1, 201, 8)).notes[0]


def test_non_square_token_grid_needs_the_input_size():
    x = torch.zeros(1, 1 + 14 * 20, 8)
    assert tuple(to_maps(x, input_size=(224, 320)).maps.shape) == (1, 8, 14, 20)
    with pytest.raises(LayoutError, match=r"Cannot infer the layout of an activation of shape \(1, 281, 8\)"):
        to_maps(x)


def test_explicit_extra_tokens_win_over_inference():
    maps = to_maps(numbered(1, 4 + 4, 3), extra_tokens=4)
    assert maps.extra_tokens == 4 and tuple(maps.maps.shape) == (1, 3, 2, 2)


def test_token_grid_prefers_fewest_extra_tokens():
    assert token_grid(1 + 16 * 16, input_size=(256, 256)) == (1, 16, 16)
    assert token_grid(34) is None


@pytest.mark.parametrize(
    "shape, module_type, input_size, expected",
    [
        ((1, 56, 56, 96), None, None, "NHWC"),
        ((1, 96, 56, 56), None, None, "NCHW"),
        ((1, 16, 16, 16), "LayerNorm", None, "NHWC"),
        ((1, 16, 16, 16), None, None, "NCHW"),
        ((1, 56, 56, 96), "Conv2d", None, "NCHW"),
        ((1, 14, 20, 96), None, (224, 320), "NHWC"),
        ((1, 96, 14, 20), None, (224, 320), "NCHW"),
        ((1, 40, 16, 16), "Mlp", None, "NCHW"),
        ((1, 64, 20, 30), None, None, "NCHW"),
    ],
)
def test_four_dim_layout_inference(shape, module_type, input_size, expected):
    assert to_maps(torch.zeros(shape), module_type=module_type, input_size=input_size).layout == expected


def test_nhwc_is_permuted_to_nchw():
    x = numbered(2, 4, 4, 3)
    maps = to_maps(x)
    assert maps.layout == "NHWC" and torch.equal(maps.maps, x.permute(0, 3, 1, 2))


def test_ambiguous_square_shape_says_how_to_override():
    maps = to_maps(torch.zeros(1, 8, 8, 8))
    assert maps.layout == "NCHW" and "layout='NHWC'" in maps.notes[0]
    assert to_maps(torch.zeros(1, 8, 8, 8), layout="nhwc").layout == "NHWC"


def test_conv1d_output_is_one_strip_per_channel():
    x = numbered(2, 4, 30)
    maps = to_maps(x, module_type="Conv1d")
    assert maps.layout == "NCL" and torch.equal(maps.maps, x[:, :, None, :])


def test_sequence_channels_last_strips():
    x = numbered(1, 30, 4)
    maps = to_maps(x, layout="NLC")
    assert tuple(maps.maps.shape) == (1, 4, 1, 30) and torch.equal(maps.maps[0, :, 0], x[0].T)


def test_conv3d_slices_are_tiled_left_to_right():
    x = numbered(1, 2, 3, 4, 5)
    maps = to_maps(x)
    assert maps.layout == "NCDHW" and tuple(maps.maps.shape) == (1, 2, 4, 15)
    for depth in range(3):
        assert torch.equal(maps.maps[:, :, :, depth * 5 : (depth + 1) * 5], x[:, :, depth])


def test_conv3d_single_depth_slice():
    x = numbered(1, 2, 3, 4, 5)
    assert torch.equal(to_maps(x, depth=-1).maps, x[:, :, 2])
    with pytest.raises(InputError, match=r"depth=3 is out of range for 3 depth slices.*use 0\.\.2"):
        to_maps(x, depth=3)


def test_vector_is_one_strip():
    x = numbered(2, 10)
    maps = to_maps(x)
    assert maps.layout == "NC" and torch.equal(maps.maps, x[:, None, None, :])


def test_uninferable_three_dim_shape_names_shape_and_override():
    with pytest.raises(LayoutError, match=r"shape \(1, 34, 64\).*layout='NCL'.*--layout"):
        to_maps(torch.zeros(1, 34, 64))


@pytest.mark.parametrize("shape", [(5,), (1, 2, 3, 4, 5, 6)])
def test_unsupported_rank_is_a_layout_error(shape):
    with pytest.raises(LayoutError, match=r"shape .* as 2-D maps.*reshape"):
        to_maps(torch.zeros(shape))


def test_explicit_layout_must_fit_the_rank():
    with pytest.raises(LayoutError, match=r"layout='NHWC' needs a 4-D tensor.*\(1, 197, 8\)"):
        to_maps(torch.zeros(1, 197, 8), layout="NHWC")


def test_unknown_layout_lists_the_known_ones():
    with pytest.raises(LayoutError, match=r"Unknown layout 'CHW'; use one of NCHW, NHWC, tokens"):
        to_maps(torch.zeros(1, 2, 3, 3), layout="CHW")


def test_explicit_tokens_without_a_grid_say_what_to_pass():
    with pytest.raises(LayoutError, match=r"Cannot lay out tokens of shape \(1, 34, 8\).*extra_tokens=K"):
        to_maps(torch.zeros(1, 34, 8), layout="tokens")


def test_numpy_input_and_input_not_mutated():
    array = np.arange(2 * 9 * 3, dtype=np.float32).reshape(2, 9, 3)
    before = array.copy()
    maps = to_maps(array, layout="tokens", extra_tokens=0)
    assert tuple(maps.maps.shape) == (2, 3, 3, 3)
    np.testing.assert_array_equal(array, before)


def _acts(name: str, tensor: torch.Tensor, module_type: str) -> Activations:
    info = LayerInfo(name=name, module=name, module_type=module_type, call_index=0, output_path="")
    return Activations({name: tensor}, {name: info})


def test_layer_maps_uses_the_captured_module_type():
    acts = _acts("conv", torch.zeros(1, 4, 30), "Conv1d")
    assert layer_maps(acts, "conv").layout == "NCL"  # without the type, 4 = 2x2 tokens would win
    assert to_maps(acts["conv"]).layout == "tokens"


def test_layer_maps_errors_name_the_layer():
    acts = _acts("head", torch.zeros(1, 34, 64), "Identity")
    with pytest.raises(LayoutError, match=r"^layer 'head': Cannot infer .*module type 'Identity'"):
        layer_maps(acts, "head")
    with pytest.raises(LayerNotFoundError, match="hed"):
        from layerscope.core.layout import select_names

        select_names(acts, ["hed"])
