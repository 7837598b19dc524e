"""The default layers of real architectures: what follows each convolution's normalization and activation.

The expected names come from the architectures' definitions (torchvision, timm), read by hand; each
comment says what in the definition makes a name the read point. Models are built on the meta device:
the selection reads the module tree only.
"""

import pytest
import timm
import torch
import torch.nn as nn
import torchvision.models as tv

import layerscope as ls
from layerscope.capturing import select_layers
from layerscope.capturing.anatomy import anatomy
from layerscope.capturing.reading import read_points
from layerscope.zoo.digits import SimpleCNN


def _meta(make):
    with torch.device("meta"):
        return make()


def _types(model, names):
    modules = dict(model.named_modules())
    return {type(modules[n]).__name__ for n in names}


def test_resnet18_the_stem_relu_then_every_basic_block():
    # ResNet.forward: conv1 -> bn1 -> relu (called once); BasicBlock.forward calls its one `relu` after bn1
    # and again after `out += identity`: the block's output is what follows bn2 (and the downsample)
    model = _meta(tv.resnet18)
    assert select_layers(model) == ["relu"] + [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]


def test_resnet50_the_stem_relu_then_every_bottleneck():
    # Bottleneck registers conv1, bn1, conv2, bn2, conv3, bn3, relu: one relu for three norms
    model = _meta(tv.resnet50)
    depths = {1: 3, 2: 4, 3: 6, 4: 3}
    assert select_layers(model) == ["relu"] + [f"layer{i}.{j}" for i, d in depths.items() for j in range(d)]


def test_mobilenet_v2_relu6_of_each_conv_norm_activation_and_the_linear_bottleneck_norm():
    model = _meta(tv.mobilenet_v2)
    names = select_layers(model)
    assert len(names) == 52 == len(select_layers(model, "convs"))  # every conv has its own read point
    # features.0 and features.18 are Conv2dNormActivation(conv, bn, ReLU6); InvertedResidual.conv ends in
    # a 1x1 projection conv and its BatchNorm, with no activation (the linear bottleneck)
    assert names[:3] == ["features.0.2", "features.1.conv.0.2", "features.1.conv.2"]
    assert names[3:6] == ["features.2.conv.0.2", "features.2.conv.1.2", "features.2.conv.3"]
    assert names[-1] == "features.18.2"
    assert _types(model, names) == {"ReLU6", "BatchNorm2d"}


def test_mobilenet_v3_small_leaves_out_the_squeeze_excitation_convs():
    model = _meta(tv.mobilenet_v3_small)
    names = select_layers(model)
    se = [n for n in select_layers(model, "convs") if ".fc" in n]  # SqueezeExcitation's fc1, fc2
    assert len(se) == 18 and len(names) == 52 - 18
    # features.1: block.0 the depthwise CNA (ReLU), block.1 the SE, block.2 the projection CNA (no activation)
    assert names[:3] == ["features.0.2", "features.1.block.0.2", "features.1.block.2.1"]
    assert names[-1] == "features.12.2"
    assert _types(model, names) == {"Hardswish", "ReLU", "BatchNorm2d"}


def test_efficientnet_b0_silu_and_projection_norms():
    model = _meta(tv.efficientnet_b0)
    names = select_layers(model)
    assert len(names) == 81 - 2 * 16  # 16 MBConv blocks, each with a 2-conv squeeze-excitation gate
    assert names[:3] == ["features.0.2", "features.1.0.block.0.2", "features.1.0.block.2.1"]
    assert names[-1] == "features.8.2"
    assert _types(model, names) == {"SiLU", "BatchNorm2d"}


@pytest.mark.parametrize("arch, expected", [
    ("vgg11", [1, 4, 7, 9, 12, 14, 17, 19]),  # features: conv, ReLU, [pool] ...
    ("vgg11_bn", [2, 6, 10, 13, 17, 20, 24, 27]),  # features: conv, BatchNorm2d, ReLU, [pool] ...
])
def test_vgg_the_relu_after_each_conv(arch, expected):
    model = _meta(getattr(tv, arch))
    assert select_layers(model) == [f"features.{i}" for i in expected]


def test_densenet121_pre_activation_layers():
    # _DenseLayer: norm1, relu1, conv1, norm2, relu2, conv2 -> conv1 is read at relu2, conv2 (nothing after it
    # in the layer, whose output it is) at the layer; _Transition: norm, relu, conv, pool -> the conv itself
    model = _meta(tv.densenet121)
    names = select_layers(model)
    assert names[:3] == ["features.relu0", "features.denseblock1.denselayer1",
                         "features.denseblock1.denselayer1.relu2"]
    transitions = [n for n in names if "transition" in n]
    assert transitions == [f"features.transition{i}.conv" for i in (1, 2, 3)]
    assert len(names) == 1 + 2 * (6 + 12 + 24 + 16) + 3


def test_convnext_tiny_block_outputs():
    # CNBlock: dwconv, Permute, LayerNorm, Linear, GELU, Linear, Permute (channels last inside): the block
    # output; the stem is conv + LayerNorm2d; the downsampling layers are LayerNorm2d + conv
    model = _meta(tv.convnext_tiny)
    names = select_layers(model)
    blocks = [f"features.{s}.{j}" for s, d in {1: 3, 3: 3, 5: 9, 7: 3}.items() for j in range(d)]
    assert names == sorted(["features.0.1", "features.2.1", "features.4.1", "features.6.1", *blocks],
                           key=[n for n, _ in model.named_modules()].index)


def test_regnet_y_400mf_the_block_activation_after_the_sum():
    # ResBottleneckBlock: proj (conv, bn), f = a (conv, bn, relu), b (conv, bn, relu), se, c (conv, bn), then
    # `activation` on x + f(x): c's read point; SE convs left out
    model = tv.regnet_y_400mf()  # (its widths are computed with tensors: not on the meta device)
    names = select_layers(model)
    first = "trunk_output.block1.block1-0"
    assert names[:5] == ["stem.2", f"{first}.proj.1", f"{first}.f.a.2", f"{first}.f.b.2", f"{first}.activation"]
    assert len(names) == 1 + 3 * 16 + 4  # 16 blocks (depths 1, 3, 6, 6), a projection in the first of each stage


def test_timm_efficientnet_lite0_reads_the_batchnorm_act_modules():
    # the architecture of builtin:efficientnet_lite0: every conv is followed by a BatchNormAct2d (ReLU6 inside,
    # or Identity after a projection), which is the read point itself
    model = _meta(lambda: timm.create_model("tf_efficientnet_lite0"))
    names = select_layers(model)
    assert len(names) == 49 == len(select_layers(model, "convs"))
    assert names[:3] == ["bn1", "blocks.0.0.bn1", "blocks.0.0.bn2"] and names[-1] == "bn2"
    assert _types(model, names) == {"BatchNormAct2d"}


def test_timm_resnet18_has_an_activation_module_per_use():
    # timm's BasicBlock: conv1, bn1, drop_block, act1, aa, conv2, bn2, act2, downsample (conv, bn)
    model = _meta(lambda: timm.create_model("resnet18"))
    names = select_layers(model)
    assert names[:4] == ["act1", "layer1.0.act1", "layer1.0.act2", "layer1.1.act1"]
    assert [n for n in names if "downsample" in n] == [f"layer{i}.0.downsample.1" for i in (2, 3, 4)]
    assert len(names) == 20


def test_timm_mobilenetv3_head_and_no_squeeze_excite():
    model = _meta(lambda: timm.create_model("mobilenetv3_small_100"))
    names = select_layers(model)
    assert names[0] == "bn1" and names[-1] == "act2"  # conv_head, norm_head (Identity), act2
    assert not [n for n in names if ".se." in n]


def test_digits_has_no_norm_and_no_activation_module():
    # SimpleCNN applies F.relu: the convs themselves
    assert select_layers(SimpleCNN()) == ["conv1", "conv2"]


def test_token_models_keep_their_block_outputs():
    model = _meta(tv.vit_b_16)
    assert select_layers(model) == [f"encoder.layers.encoder_layer_{i}" for i in range(12)]


def _blocks(depths, stage="stages.{}.blocks.{}"):
    return [stage.format(i, j) for i, depth in enumerate(depths) for j in range(depth)]


# The timm models whose blocks emit tokens (or, Swin, NHWC maps), with their blocks read from each definition in
# timm/models/*.py: the depth / num_blocks / depths its registration passes (12 for every ViT-S/Ti/B here).
TIMM_TOKEN_MODELS = {
    "vit_tiny_patch16_224": _blocks([12], "blocks.{1}"),  # vision_transformer.py: depth=12
    "deit_tiny_distilled_patch16_224": _blocks([12], "blocks.{1}"),  # deit.py: depth=12, a dist_token
    "vit_small_patch14_reg4_dinov2": _blocks([12], "blocks.{1}"),  # depth=12, reg_tokens=4
    "eva02_tiny_patch14_224": _blocks([12], "blocks.{1}"),  # eva.py: depth=12
    "beit_base_patch16_224": _blocks([12], "blocks.{1}"),  # beit.py: depth=12
    "vit_small_r26_s32_224": _blocks([12], "blocks.{1}"),  # hybrid: a ResNet-26 stem (its convs left out), depth=12
    "mixer_s16_224": _blocks([8], "blocks.{1}"),  # mlp_mixer.py: num_blocks=8 MixerBlock (mlp_tokens)
    "gmlp_ti16_224": _blocks([30], "blocks.{1}"),  # num_blocks=30 SpatialGatingBlock
    "resmlp_12_224": _blocks([12], "blocks.{1}"),  # num_blocks=12 ResBlock (linear_tokens)
    "levit_128s": _blocks([2, 3, 4]),  # levit.py: depth=(2, 3, 4) LevitBlock per stage (a conv stem)
    "swin_tiny_patch4_window7_224": _blocks([2, 2, 6, 2], "layers.{}.blocks.{}"),  # swin: depths=(2, 2, 6, 2)
}


@pytest.mark.parametrize("name", sorted(TIMM_TOKEN_MODELS))
def test_timm_token_models_default_to_every_block(name):
    model = _meta(lambda: timm.create_model(name))
    assert select_layers(model) == TIMM_TOKEN_MODELS[name]


def test_the_timm_models_of_the_layout_tests_that_emit_tokens_are_pinned():
    # tests/layout/test_layout_models.py (the project's timm models with tokens or NHWC stages), convnext_atto apart
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "layout" / "test_layout_models.py").read_text()
    used = set(re.findall(r'"((?:vit|deit|swin|eva|beit|mixer|gmlp|resmlp|levit)[a-z0-9_]*)"', text))
    assert used and used <= set(TIMM_TOKEN_MODELS)


def test_torchvision_swin_t_every_block_of_every_stage():
    # SwinTransformer.features: [patch embedding, stage, PatchMerging, stage, ...], depths=[2, 2, 6, 2]
    model = _meta(tv.swin_t)
    assert select_layers(model) == [f"features.{s}.{j}" for s, d in zip((1, 3, 5, 7), (2, 2, 6, 2)) for j in range(d)]


def test_timm_convnext_reads_each_block_output_not_its_channels_last_norm():
    # ConvNeXtBlock (conv_mlp=False): conv_dw, norm (LayerNorm on NHWC, after a permute), mlp, permute back
    model = _meta(lambda: timm.create_model("convnext_tiny"))
    names = select_layers(model)
    assert names[:3] == ["stem.1", "stages.0.blocks.0", "stages.0.blocks.1"]
    assert len(names) == 1 + 3 + (3 + 3 + 9 + 3)  # stem.1 (LayerNorm2d), 3 downsampling convs (at their stage), blocks


def test_the_default_is_kept_per_model():
    model = _meta(tv.resnet18)
    assert select_layers(model) == select_layers(model)
    assert None in anatomy(model).selections


def test_a_shared_activation_inside_a_block_reads_the_block():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)
            self.conv2, self.bn2 = nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))) + x)

    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), Block())
    assert read_points(model) == {"0": "1", "2.conv1": "2", "2.conv2": "2"}


def test_a_gate_has_no_read_point():
    gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 1, 1), nn.ReLU(), nn.Conv2d(1, 4, 1), nn.Sigmoid())
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.SiLU(), gate)
    assert read_points(model) == {"0": "2"}


def test_the_read_output_is_the_conv_through_its_norm_and_activation():
    # an independent oracle: run the conv, BatchNorm and ReLU by hand on the captured conv output
    torch.manual_seed(0)
    model = tv.vgg11_bn().eval()
    with torch.no_grad():
        model.features[1].running_mean.uniform_(-1, 1)
    x = torch.randn(2, 3, 32, 32)
    acts = ls.capture(model, x, ["features.0", "features.2"])
    bn = model.features[1]
    expected = torch.relu((acts["features.0"] - bn.running_mean[:, None, None])
                          / torch.sqrt(bn.running_var[:, None, None] + bn.eps) * bn.weight[:, None, None]
                          + bn.bias[:, None, None])
    torch.testing.assert_close(acts["features.2"], expected)
    assert "features.2" in select_layers(model)
    assert (acts["features.2"] == 0).any()  # dead values exist here, never in the raw conv output


def test_a_conv1d_is_read_at_its_norm_at_most():
    # (N, C, L) outputs are told from tokens by the module type: Conv1d and BatchNorm1d say, ReLU does not
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Conv1d(4, 4, 3), nn.BatchNorm1d(4), nn.ReLU())
    assert read_points(model) == {"0": "0", "2": "3"}
