"""Receptive fields: literal rules for hand-built stacks, the published fields of ResNet-18 and VGG16, squeeze-
excitation gates, the gradient method equal to the geometry where both apply, and whole-input boxes for attention."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from layerscope.scanning.receptive import Receptive, _gradient, receptive_fields


def field(model, name, size, input_size, **kwargs):
    return receptive_fields(model.eval(), {name: size}, torch.zeros(1, kwargs.pop("channels", 3), *input_size),
                            **kwargs)[name]


@pytest.mark.parametrize("layers, expected", [
    ([nn.Conv2d(3, 4, 3)], ((1, 1), (0, 0), (3, 3))),
    ([nn.Conv2d(3, 4, 3, padding=1)], ((1, 1), (1, 1), (3, 3))),
    ([nn.Conv2d(3, 4, 3, stride=2, padding="valid")], ((2, 2), (0, 0), (3, 3))),
    ([nn.Conv2d(3, 4, 3, dilation=2, padding="same")], ((1, 1), (2, 2), (5, 5))),
    ([nn.Conv2d(3, 4, (1, 5), padding=(0, 2))], ((1, 1), (0, 2), (1, 5))),
    ([nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3)], ((2, 2), (0, 0), (8, 8))),
    ([nn.Conv2d(3, 4, 3, padding=1), nn.AvgPool2d(3, stride=2, padding=1), nn.Conv2d(4, 4, 3, padding=1)],
     ((2, 2), (4, 4), (9, 9))),
])
def test_literal_rules_of_plain_stacks(layers, expected):
    model = nn.Sequential(*layers, nn.ReLU())
    rf = field(model, str(len(layers) - 1), (4, 4), (20, 20))
    assert (rf.method, (rf.stride, rf.offset, rf.size)) == ("geometry", expected)


def test_boxes_are_clipped_to_the_input_and_exclusive_at_the_end():
    rf = Receptive("geometry", (2, 2), (1, 1), (4, 4), (8, 10))
    assert rf.box(0, 0) == (0, 0, 3, 3) and rf.box(3, 4) == (7, 5, 10, 8) and rf.box(9, 9) == (10, 8, 10, 8)
    assert Receptive.whole((8, 10)).box(3, 4) == (0, 0, 10, 8)


@pytest.mark.parametrize("name, size, stride", [
    ("conv1", 7, 2), ("layer1.0.conv1", 19, 4), ("layer2.0.downsample.0", 43, 8), ("layer4.1.conv2", 435, 32),
])
def test_resnet18_fields_are_the_published_ones(name, size, stride):
    rf = field(torchvision.models.resnet18(), name, (7, 7), (224, 224))  # the residual sums are unions
    assert (rf.method, rf.size, rf.stride) == ("geometry", (size, size), (stride, stride))


def test_vgg16_conv5_3_field_is_the_published_one():
    rf = field(torchvision.models.vgg16(), "features.28", (14, 14), (224, 224))
    assert (rf.size, rf.stride, rf.offset) == ((196, 196), (16, 16), (90, 90))


def test_a_squeeze_excitation_gate_does_not_widen_the_box():
    rf = field(torchvision.models.mobilenet_v3_small(), "features.2.block.0.0", (56, 56), (224, 224))
    assert (rf.method, rf.size, rf.stride) == ("geometry", (7, 7), (4, 4))


def test_a_layer_after_global_pooling_sees_the_whole_input():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 2, 1))
    assert field(model, "2", (1, 1), (12, 12)) == Receptive.whole((12, 12))


class Linear(nn.Module):
    """Convolutions and average pooling, no nonlinearity: the gradient's support is exactly the geometric field."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 2, 5, stride=2)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        return self.b(self.pool(self.a(x)))


@pytest.mark.parametrize("size", [(24, 24), (30, 18)])
def test_the_gradient_method_equals_the_geometry_where_both_apply(size):
    torch.manual_seed(0)
    model = Linear().eval()
    example = torch.zeros(1, 1, *size)
    with torch.no_grad():
        maps = model(example).shape[-2:]
    geometry = receptive_fields(model, {"b": tuple(maps)}, example)["b"]
    gradient = _gradient(model, {"b": tuple(maps)}, {}, example)[0]["b"]
    assert geometry.method == "geometry" and gradient.method == "gradient"
    assert (gradient.stride, gradient.offset, gradient.size) == (geometry.stride, geometry.offset, geometry.size)


class Upsampled(nn.Module):
    """An op the geometry does not follow (interpolation): the gradient method takes over."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3)

    def forward(self, x):
        return self.b(F.interpolate(torch.relu(self.a(x)), scale_factor=2, mode="nearest"))


def test_unknown_ops_fall_back_to_gradients_whose_boxes_cover_every_gradient():
    torch.manual_seed(0)
    model = Upsampled().eval()
    x = torch.randn(3, 1, 16, 16, requires_grad=True)
    maps = model(x)
    rf = receptive_fields(model, {"b": tuple(maps.shape[-2:])}, x[:1].detach())["b"]
    assert rf.method == "gradient"
    for row, col in [(5, 9), (11, 3), (0, 25)]:  # positions that were not probes
        (grad,) = torch.autograd.grad(maps[:, :, row, col].sum(), x, retain_graph=True)
        ys, xs = grad.abs().sum((0, 1)).nonzero(as_tuple=True)
        x0, y0, x1, y1 = rf.box(row, col)
        assert x0 <= int(xs.min()) and int(xs.max()) < x1 and y0 <= int(ys.min()) and int(ys.max()) < y1


class Tokens(nn.Module):
    """A patch embedding then self-attention: every token sees every patch."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.block = nn.Identity()

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.block(self.attn(tokens, tokens, tokens)[0])


def test_attention_gives_whole_input_boxes_by_gradients():
    rf = receptive_fields(Tokens().eval(), {"block": (4, 4)}, torch.zeros(1, 3, 16, 16), {"block": "tokens"})["block"]
    assert rf.method == "gradient"
    assert {rf.box(r, c) for r in range(4) for c in range(4)} == {(0, 0, 16, 16)}


def support_boxes(model, name, x, positions):
    """The independent oracle: for each map position (row, col) of layer ``name``, the bounding box (x0, y0, x1, y1)
    of the input pixels whose gradient is nonzero, over every input of ``x`` and a random mix of the channels."""
    from layerscope.capturing import Recorder

    x = x.clone().requires_grad_(True)
    boxes = []
    with Recorder(model, [name], grad=True) as rec:
        maps = rec(x)[name]
        mix = torch.randn(maps.shape[1], generator=torch.Generator().manual_seed(1))
        for row, col in positions:
            (grad,) = torch.autograd.grad((maps[:, :, row, col] * mix).sum(), x, retain_graph=True)
            ys, xs = grad.abs().sum((0, 1)).nonzero(as_tuple=True)
            boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return boxes


def timm_same_stack():
    """timm's same-padding layers (pad first, then conv / pool with padding 0) with a depthwise, dilated conv."""
    from timm.layers import create_conv2d, create_pool2d

    return nn.Sequential(
        create_conv2d(3, 8, 3, stride=2, padding="same"), nn.ReLU(),  # Conv2dSame
        create_pool2d("max", 3, stride=2, padding="same"),  # MaxPool2dSame
        create_conv2d(8, 8, 5, stride=2, padding="same", depthwise=True), nn.ReLU6(),  # depthwise Conv2dSame
        create_pool2d("avg", 2, stride=2, padding="same"),  # AvgPool2dSame
        nn.Conv2d(8, 8, 3, dilation=2, padding="same"),  # torch's own "same", dilated
        nn.Conv2d(8, 8, 3, padding=1, groups=8, padding_mode="zeros"),
    )


def timm_model(name):
    import timm

    return timm.create_model(name, pretrained=False)


REAL = [  # (model builder, layer, input size): random init, the layer's field read from geometry only
    (timm_same_stack, "1", (41, 37)),
    (timm_same_stack, "4", (41, 37)),
    (timm_same_stack, "7", (61, 67)),
    (lambda: timm_model("tf_efficientnet_lite0"), "blocks.1.0.bn2", (64, 64)),
    (lambda: timm_model("tf_efficientnet_lite0"), "blocks.3.0.conv_dw", (96, 96)),
    (lambda: timm_model("tf_mixnet_s"), "blocks.2.0.conv_dw", (64, 64)),  # mixed kernel sizes, same padding
    (lambda: torchvision.models.resnet18(), "layer2.0.conv2", (64, 64)),
    # before the first squeeze-excitation gate (after one, the gradient reaches every pixel: see the test above)
    (lambda: torchvision.models.mobilenet_v3_small(), "features.1.block.0", (64, 64)),
    (lambda: torchvision.models.efficientnet_b0(), "features.1.0.block.0", (64, 64)),
    (lambda: torchvision.models.regnet_x_400mf(), "trunk_output.block2.block2-0.f.b", (64, 64)),  # grouped
]


@pytest.mark.parametrize("build, name, size", REAL, ids=[f"{i}-{n}" for i, (_, n, _) in enumerate(REAL)])
def test_geometry_of_real_models_equals_the_gradient_support(build, name, size):
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(8, 3, *size)
    with torch.no_grad():
        from layerscope.capturing import Recorder

        with Recorder(model, [name]) as rec:
            maps = tuple(rec(x[:1])[name].shape[-2:])
    rf = receptive_fields(model, {name: maps}, x[:1])[name]
    assert rf.method == "geometry"
    h, w = maps
    positions = sorted({(0, 0), (h - 1, w - 1), (h // 2, w // 3), (0, w - 1), (h - 1, 1 % w)})
    assert [rf.box(row, col) for row, col in positions] == support_boxes(model, name, x, positions)


class Padded(nn.Module):
    def __init__(self, mode="constant"):
        super().__init__()
        self.mode, self.conv = mode, nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.conv(F.pad(x, (1, 2, 0, 1), mode=self.mode))


class Strided(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.conv(x[:, :, ::2, 1::2])


@pytest.mark.parametrize("model, expected", [
    (Padded(), ("geometry", (1, 1), (0, 1), (3, 3))),  # the padding before a map moves it
    (Padded("replicate"), ("geometry", (1, 1), (0, 1), (3, 3))),
    (Strided(), ("geometry", (2, 2), (0, -1), (5, 5))),  # position 0 of x[:, :, :, 1::2] is column 1
])
def test_padding_and_strided_slices_are_geometry(model, expected):
    rf = field(model, "conv", (4, 4), (12, 12))
    assert (rf.method, rf.stride, rf.offset, rf.size) == expected


def test_a_reflection_padding_falls_back_to_gradients():
    assert field(Padded("reflect"), "conv", (4, 4), (12, 12)).method == "gradient"


class Decoder(nn.Module):
    """One op the geometry does not follow (an upsampling), then three convolutions computed from it."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3, stride=2), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        up = F.interpolate(torch.relu(self.a(x)), scale_factor=2, mode="nearest")
        return self.d(self.c(self.b(up)))


def test_one_probe_of_an_unknown_op_serves_every_layer_computed_from_it(monkeypatch):
    torch.manual_seed(0)
    model = Decoder().eval()
    example = torch.zeros(1, 1, 20, 20)
    sizes = {}
    with torch.no_grad():
        from layerscope.capturing import Recorder

        with Recorder(model, ["b", "c", "d"]) as rec:
            sizes = {name: tuple(t.shape[-2:]) for name, t in rec(example).items()}
    backwards = []
    grad = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: backwards.append(1) or grad(*a, **k))
    fields = receptive_fields(model, sizes, example)
    assert len(backwards) == 1  # the upsampling's output, probed once for the three layers
    monkeypatch.undo()
    x = torch.randn(8, 1, 20, 20)
    for name, (h, w) in sizes.items():  # the oracle: the gradient's support at positions that were not probes
        assert fields[name].method == "gradient"
        positions = [(h // 3, w // 5), (h - 4, 3), (h // 2 + 1, w - 4)]
        for (row, col), support in zip(positions, support_boxes(model, name, x, positions)):
            (x0, y0, x1, y1), (sx0, sy0, sx1, sy1) = fields[name].box(row, col), support
            assert (x0 <= sx0 and y0 <= sy0 and sx1 <= x1 and sy1 <= y1), (name, row, col)  # covers every gradient
            assert (sx0 - x0) + (x1 - sx1) <= 1 and (sy0 - y0) + (y1 - sy1) <= 1, (name, row, col)  # and no more
