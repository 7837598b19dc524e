"""Layout inference on activations captured from real architectures (random init, no downloads)."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn as nn
import torchvision

from layerscope.capturing import Recorder
from layerscope.core.layout import layer_maps


def capture(model: nn.Module, x: torch.Tensor, layers, **kw):
    torch.manual_seed(0)
    with Recorder(model, layers, **kw) as rec:
        return rec(x)


def test_torchvision_vit_b_16_encoder_layer_is_14x14_without_cls():
    model = torchvision.models.vit_b_16(weights=None)
    acts = capture(model, torch.randn(1, 3, 224, 224), "encoder.layers.encoder_layer_0", stop_early=True)
    tokens = acts["encoder.layers.encoder_layer_0"]
    maps = layer_maps(acts, "encoder.layers.encoder_layer_0", input_size=(224, 224))
    assert tuple(tokens.shape) == (1, 197, 768)
    assert (maps.layout, maps.extra_tokens, tuple(maps.maps.shape)) == ("tokens", 1, (1, 768, 14, 14))
    assert torch.equal(maps.maps[0, :, 0, 1], tokens[0, 2])  # token 1 (after CLS) at row 0, col 1


@pytest.mark.parametrize(
    "name, kwargs, extra, words",
    [
        ("vit_tiny_patch16_224", {}, 1, "(CLS)"),
        ("deit_tiny_distilled_patch16_224", {}, 2, "distillation"),
        ("vit_tiny_patch16_224", {"reg_tokens": 4}, 5, "CLS + 4 register tokens"),
        ("vit_small_patch14_reg4_dinov2", {}, 5, "CLS + 4 register tokens"),
    ],
)
def test_timm_vit_blocks_drop_cls_distillation_and_register_tokens(name, kwargs, extra, words):
    size = 56 if "patch14" in name else 64
    model = timm.create_model(name, pretrained=False, img_size=size, **kwargs)
    acts = capture(model, torch.randn(1, 3, size, size), "blocks.0", stop_early=True)
    maps = layer_maps(acts, "blocks.0", input_size=(size, size))
    assert maps.extra_tokens == extra and tuple(maps.maps.shape[-2:]) == (4, 4)
    assert words in maps.notes[0]
    assert torch.equal(maps.maps[0, :, 3, 3], acts["blocks.0"][0, -1])


def test_timm_vit_non_square_input_uses_the_input_size():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=(48, 80))
    acts = capture(model, torch.randn(1, 3, 48, 80), "blocks.0", stop_early=True)
    maps = layer_maps(acts, "blocks.0", input_size=(48, 80))
    assert tuple(acts["blocks.0"].shape) == (1, 16, 192)
    assert (maps.extra_tokens, tuple(maps.maps.shape[-2:])) == (1, (3, 5))
    assert layer_maps(acts, "blocks.0").maps.shape[-2:] == (3, 5)  # the model's geometry, captured with the acts
    assert layer_maps(acts, "blocks.0", tokens=None).maps.shape[-2:] == (4, 4)  # 16 tokens, no size: a 4x4 guess


@pytest.fixture(scope="module")
def swin_acts():
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False)
    return capture(model, torch.randn(1, 3, 224, 224), "re:layers\\.[0-3]$|patch_embed")


@pytest.mark.parametrize(
    "layer, side, channels",
    [("patch_embed", 56, 96), ("layers.0", 56, 96), ("layers.1", 28, 192), ("layers.2", 14, 384), ("layers.3", 7, 768)],
)
def test_timm_swin_stage_outputs_are_nhwc(swin_acts, layer, side, channels):
    maps = layer_maps(swin_acts, layer, input_size=(224, 224))
    assert maps.layout == "NHWC" and tuple(maps.maps.shape) == (1, channels, side, side)
    assert torch.equal(maps.maps[0, :, 1, 2], swin_acts[layer][0, 1, 2])


@pytest.fixture(scope="module")
def convnext_acts():
    layers = "re:stages\\.[03]\\.blocks\\.0(\\.(conv_dw|norm|mlp|mlp\\.fc1))?$"
    x = torch.randn(1, 3, 64, 64)
    default = capture(timm.create_model("convnext_atto", pretrained=False), x, layers)
    channels_last = capture(timm.create_model("convnext_atto", pretrained=False, conv_mlp=False), x, layers)
    return default, channels_last


@pytest.mark.parametrize("suffix", ["", ".conv_dw", ".norm", ".mlp", ".mlp.fc1"])
@pytest.mark.parametrize("stage", [0, 3])
def test_timm_convnext_atto_is_nchw_throughout(convnext_acts, stage, suffix):
    """convnext_atto uses conv_mlp=True: LayerNorm2d and 1x1 convs keep every output NCHW."""
    acts, _ = convnext_acts
    name = f"stages.{stage}.blocks.0{suffix}"
    assert layer_maps(acts, name).layout == "NCHW"


@pytest.mark.parametrize(
    "suffix, layout", [("", "NCHW"), (".conv_dw", "NCHW"), (".norm", "NHWC"), (".mlp.fc1", "NHWC"), (".mlp", "NHWC")]
)
@pytest.mark.parametrize("stage", [0, 3])
def test_timm_convnext_channels_last_mlp_is_nhwc(convnext_acts, stage, suffix, layout):
    _, acts = convnext_acts
    name = f"stages.{stage}.blocks.0{suffix}"
    maps = layer_maps(acts, name, input_size=(64, 64))
    assert maps.layout == layout
    assert maps.maps.shape[-1] == 64 // 4 // 2**stage


def test_conv1d_model_outputs_are_strips():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Conv1d(4, 9, 3))
    acts = capture(model, torch.randn(1, 2, 32), None)
    assert [layer_maps(acts, name).layout for name in acts] == ["NCL", "NCL"]
    assert tuple(layer_maps(acts, "2").maps.shape) == (1, 9, 1, 28)


def test_conv3d_video_model_outputs_are_depth_slices():
    model = torchvision.models.video.r3d_18(weights=None)
    acts = capture(model, torch.randn(1, 3, 4, 32, 32), "stem.0", stop_early=True)
    maps = layer_maps(acts, "stem.0")
    assert (maps.layout, tuple(maps.maps.shape)) == ("NCDHW", (1, 64, 16, 4 * 16))
    assert torch.equal(layer_maps(acts, "stem.0", depth=2).maps, acts["stem.0"][:, :, 2])
