"""Planted faults by weight surgery are found and named with their exact channel indices."""

import json
import math

import pytest
import torch
from torch import nn

from layerscope.diagnosis import diagnose
from layerscope.zoo import build_builtin, digits, sample_inputs

from .models import TwoConv, smooth_images


def _model(act=nn.ReLU, seed=0) -> TwoConv:
    torch.manual_seed(seed)
    model = TwoConv(act)
    with torch.no_grad():  # smooth filters: a healthy-looking baseline
        model.conv1.weight.copy_(torch.ones_like(model.conv1.weight) / 27 + 0.02 * model.conv1.weight)
    return model


def _kill(conv: nn.Conv2d, channels, bias: float) -> None:
    with torch.no_grad():
        conv.weight[channels] = 0
        conv.bias[channels] = bias


@pytest.fixture(scope="module")
def x():
    return smooth_images(8)


def test_killed_channels_are_dead(x):
    model = _model()
    _kill(model.conv1, [1, 4, 6], -1.0)
    layer = diagnose(model, x, "conv1")["conv1"]
    assert layer.flagged["dead"] == [1, 4, 6]
    assert layer.flagged["uniform"] == []
    assert layer.verdict == "suspicious"
    assert "3 of 8 channels (38%) are dead" in layer.reason


def test_most_channels_killed_is_bad_with_words_and_numbers(x):
    model = _model()
    _kill(model.conv1, list(range(7)), -0.5)
    layer = diagnose(model, x, "conv1")["conv1"]
    assert layer.flagged["dead"] == [0, 1, 2, 3, 4, 5, 6]
    assert layer.verdict == "bad"
    assert layer.reason.startswith("bad: 7 of 8 channels (88%) are dead — never positive on any of the 8 inputs")
    assert "learning rate" in layer.reason and "contributes almost nothing" in layer.reason


def test_constant_channels_are_uniform_not_dead(x):
    model = _model()
    _kill(model.conv1, [0, 5], 0.7)
    layer = diagnose(model, x, "conv1")["conv1"]
    assert layer.flagged["uniform"] == [0, 5]
    assert layer.flagged["dead"] == []


def test_exploding_channel(x):
    model = _model()
    with torch.no_grad():
        model.conv1.weight[3] *= 1e6
    layer = diagnose(model, x, "conv1")["conv1"]
    assert layer.flagged["exploding"] == [3]
    assert layer.verdict == "suspicious"


def test_nan_channel_and_its_propagation(x):
    model = _model()
    with torch.no_grad():
        model.conv1.bias[2] = math.nan
    result = diagnose(model, x, ["conv1", "conv2"])
    assert result["conv1"].flagged["nonfinite"] == [2]
    assert result["conv1"].verdict == "bad"
    assert result["conv2"].flagged["nonfinite"] == list(range(8))
    assert any("first appear in 'conv1'" in note for note in result.notes)


def test_saturated_relu6_channels(x):
    model = _model(nn.ReLU6)
    _kill(model.conv1, [2, 7], 9.0)  # always above 6: stuck at the ReLU6 ceiling
    layer = diagnose(model, x, "act1")["act1"]
    assert layer.flagged["saturated"] == [2, 7]
    assert layer.bounds == (None, 6.0)


def test_noisy_channels_in_a_noise_filter():
    model = _model()
    with torch.no_grad():  # a checkerboard-like filter turns smooth input into speckle
        model.conv1.weight[5] = torch.tensor([[1.0, -1, 1], [-1, 1, -1], [1, -1, 1]]) * 10
    x = torch.randn(8, 3, 24, 24, generator=torch.Generator().manual_seed(3))
    layer = diagnose(model, x, "conv1", thresholds={"noisy_min_stride": 1})["conv1"]
    assert 5 in layer.flagged["noisy"]


def test_vector_layer_gets_non_spatial_metrics_only(x):
    model = _model()
    with torch.no_grad():
        model.fc.bias.fill_(5.0)  # every unit active ...
        model.fc.weight[1] = 0
        model.fc.bias[1] = -1  # ... but unit 1
    layer = diagnose(model, x, "fc")["fc"]
    assert layer.layout == "NC" and not layer.spatial and layer.noise is None
    assert layer.flagged["dead"] == [1]


@pytest.fixture(scope="module")
def digit_batch():
    images, _ = sample_inputs("digits")
    return digits.to_tensor(images)


def test_builtin_trained_model_raises_no_false_alarm(digit_batch):
    result = diagnose(build_builtin("digits", trained=True), digit_batch, preprocessing=None)
    assert [layer.verdict for layer in result.layers] == ["good", "good"]
    assert [f.severity for f in result.input_findings] == ["info"]  # only: preprocessing unknown
    assert result.tendency.label == "trained"


def test_builtin_untrained_copy_reads_untrained(digit_batch):
    trained = diagnose(build_builtin("digits", trained=True), digit_batch)
    untrained = diagnose(build_builtin("digits", trained=False), digit_batch)
    assert untrained.tendency.label == "untrained"
    assert untrained["conv2"].noise > 2 * trained["conv2"].noise


def test_streaming_batches_equal_one_batch(digit_batch):
    model = build_builtin("digits", trained=True)
    whole = diagnose(model, digit_batch, channel_order=False, effective_rank=True)
    streamed = diagnose(model, iter(digit_batch.split(7)), channel_order=False, effective_rank=True)
    assert streamed.inputs == whole.inputs == 30
    assert streamed["conv2"].flagged == whole["conv2"].flagged
    assert streamed["conv2"].scale == pytest.approx(whole["conv2"].scale)
    assert streamed["conv2"].effective_rank == pytest.approx(whole["conv2"].effective_rank)
    assert 1 <= whole["conv2"].effective_rank <= whole["conv2"].channels
    assert math.isnan(diagnose(model, digit_batch, channel_order=False)["conv2"].effective_rank)  # on request only


@pytest.mark.parametrize("name, layers", [("resnet18", None), ("mobilenet_v2", "type:ReLU6"), ("vit_b_16", "encoder.layers.encoder_layer_0")])
def test_real_architectures_random_init(name, layers):
    import torchvision

    torch.manual_seed(0)
    kwargs = {"image_size": 64} if name.startswith("vit") else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    x = smooth_images(2, size=64)
    result = diagnose(model, x, layers)
    assert result.layers and all(layer.verdict in ("good", "suspicious", "bad") for layer in result.layers)
    if layers == "type:ReLU6":
        assert all(layer.bounds == (None, 6.0) for layer in result.layers)
    if name.startswith("vit"):
        assert result.layers[0].layout == "tokens"
    json.loads(result.to_json())


class _ConvBnRelu(nn.Module):
    """conv -> BatchNorm -> ReLU, and a block of them (its output a rectifier's, known only from the values)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def _conv_bn_relu(shift: float) -> nn.Module:
    """Channel 2 of the conv is always negative; the BatchNorm adds ``shift`` to it."""
    torch.manual_seed(0)
    model = nn.Sequential(_ConvBnRelu()).eval()
    _kill(model[0].conv, [2], -1.0)
    with torch.no_grad():
        model[0].bn.bias[2] = shift
    return model


def test_never_positive_before_batchnorm_is_not_dead(x):
    result = diagnose(_conv_bn_relu(shift=5.0), x, ["0.conv", "0.relu", "0"], channel_order=False)
    assert result["0.conv"].flagged["dead"] == [] and not result["0.conv"].rectified
    assert result["0.relu"].flagged["dead"] == [] and result["0.relu"].rectified  # re-centred: alive after the ReLU
    assert result["0"].rectified  # a block whose outputs are never negative


def test_dead_after_the_rectifier_is_dead(x):
    result = diagnose(_conv_bn_relu(shift=-5.0), x, ["0.conv", "0.relu", "0"], channel_order=False)
    assert result["0.conv"].flagged["dead"] == []
    assert result["0.relu"].flagged["dead"] == [2] and result["0"].flagged["dead"] == [2]


def test_a_block_with_signed_outputs_is_not_judged_dead(x):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1)))
    _kill(model[0][2], [3], -1.0)
    layer = diagnose(model, x, "0", channel_order=False)["0"]
    assert not layer.rectified and layer.flagged["dead"] == []
