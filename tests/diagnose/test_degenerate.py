"""Inputs that make feature maps meaningless (pixel noise, constant images) and float round-off on flat maps."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from layerscope.diagnosis import Thresholds, diagnose
from layerscope.diagnosis.verdict import judge
from layerscope.io import load_model
from layerscope.stats import ChannelStats, noise_score


@pytest.fixture(scope="module")
def resnet():
    return load_model("torchvision:resnet18")


@pytest.fixture(scope="module")
def noise_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    for i in range(3):  # 256 x 256: the ImageNet resize keeps the pixel noise as it is
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(folder / f"noise{i}.png")
    return str(folder)


def test_noise_images_give_input_noise_and_the_tendency_from_the_weights(resnet, noise_files):
    result = diagnose(resnet, [noise_files], "layer3.*.conv*,layer4.*.conv*", channel_order=False)  # maps: "trained"
    assert [f.code for f in result.input_findings] == ["input.noise"]
    assert "feature maps of noise are not informative" in result.input_findings[0].message
    assert result.input_findings[0].values["input_noise"] > 0.9
    assert (result.tendency.label, result.tendency.source) == ("untrained", "weights")  # random init, whatever the input


def test_noise_images_leave_the_tendency_unclear_when_the_weights_do_not_decide(noise_files):
    tiny = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())  # one small matrix: too little to read from the weights
    result = diagnose(tiny, [noise_files], channel_order=False)
    assert result.tendency.weights is not None and not result.tendency.weights.decided
    assert result.tendency.label == "unclear" and "look like noise" in result.tendency.message


@pytest.fixture(scope="module")
def black_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("black") / "black.png"
    Image.fromarray(np.zeros((240, 320, 3), np.uint8)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def black_result(resnet, black_file):
    return diagnose(resnet, [black_file], "conv1,layer1.0.conv1")


def test_black_image_is_input_constant(black_result):
    codes = [f.code for f in black_result.input_findings]
    assert codes == ["input.constant"]
    assert "1 of 1 inputs" in black_result.input_findings[0].message


def test_black_image_maps_are_not_called_noisy_or_smooth(black_result):
    conv1 = black_result["conv1"]
    assert conv1.flagged["noisy"] == [] and conv1.noise is None
    assert "smooth spatial structure" not in conv1.reason
    assert black_result["layer1.0.conv1"].flagged["noisy"] == []


def test_black_image_tendency_comes_from_the_weights(black_result):
    assert (black_result.tendency.label, black_result.tendency.source) == ("untrained", "weights")


def test_black_image_tendency_is_unclear_when_the_weights_do_not_decide(black_file):
    result = diagnose(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), [black_file])
    assert result.tendency.label == "unclear" and "constant" in result.tendency.message


def _round_off_maps() -> torch.Tensor:
    """A real bicubic upsample of a constant image: constant up to float round-off (~1e-7 relative)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Upsample(scale_factor=1.7, mode="bicubic"), nn.Conv2d(3, 8, 5))
    with torch.no_grad():
        model[1].bias.fill_(1.0)  # positive maps: not dead
        return model(torch.full((2, 3, 32, 32), 0.37))


def test_round_off_on_a_constant_map_has_no_noise_score():
    maps = _round_off_maps()
    assert float(maps.flatten(2).std(-1).max()) > 0  # not exactly constant
    assert torch.isnan(noise_score(maps)).all()


def test_constant_maps_with_round_off_are_uniform_never_noisy():
    verdict = judge(ChannelStats(8).update(_round_off_maps()).result(), Thresholds())
    assert verdict.flagged["uniform"] == list(range(8))
    assert verdict.flagged["noisy"] == []


def test_random_init_classifier_skips_the_channel_order_check_with_a_note(resnet):
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)).clamp(-2, 2)
    result = diagnose(resnet, x, "conv1")
    assert not [f for f in result.input_findings if f.code == "input.channel_order"]
    assert any(note.startswith("channel-order check skipped: the model's predictions are near chance")
               for note in result.notes)


def test_non_classifier_skips_the_channel_order_check_with_a_note():
    result = diagnose(nn.Conv2d(3, 4, 3), torch.rand(2, 3, 16, 16))
    assert any("channel-order check skipped: the model's output is not class scores" in note for note in result.notes)
