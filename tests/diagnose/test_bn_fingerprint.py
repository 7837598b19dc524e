"""Input checks from BatchNorm running statistics: exact z-scores on a hand-set net, an owned early-stopped
forward, a random-init ResNet-18 whose record comes from a known input distribution, and the pretrained
EfficientNet-Lite0 on real photos (correct inputs: no warning; BGR, 0-255 and ImageNet's mean/std: flagged)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from layerscope.diagnosis import Thresholds, diagnose
from layerscope.diagnosis.fingerprint import bn_moments, bn_statistics, fingerprint, fingerprint_check
from layerscope.io import IMAGENET_MEAN, IMAGENET_STD
from layerscope.showing.api import show


class _Boom(nn.Module):
    def forward(self, x):
        raise AssertionError("the forward must stop at the last BatchNorm layer needed")


def _hand_set() -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.BatchNorm2d(2, eps=0.0), nn.ReLU(),
                        nn.BatchNorm2d(2), _Boom())
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(3)[:2, :, None, None])  # the first BN sees input channels 0 and 1
        net[1].running_mean.copy_(torch.tensor([1.0, -2.0]))
        net[1].running_var.copy_(torch.tensor([4.0, 0.25]))
        net[3].running_var.fill_(2.0)
    return net


def test_z_scores_and_variance_ratios_are_exact_on_hand_set_statistics():
    x = torch.zeros(2, 3, 2, 2)
    x[:, 0] = torch.tensor([[3.0, 5.0], [5.0, 3.0]])  # mean 4, variance 1
    x[:, 1] = -2.0  # on the training mean, variance 0
    first = bn_statistics(_hand_set(), x, layers=1)[0]
    assert first.name == "1"
    assert first.z.tolist() == [1.5, 0.0]  # (4 - 1) / sqrt(4)
    assert first.log_var[0].item() == pytest.approx(math.log(1 / 4))
    assert first.evidence() == "1 channel 0: observed mean 1.5 σ above its training mean"


def test_the_forward_stops_early_and_leaves_the_model_as_it_was():
    net = _hand_set().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    seen = bn_moments(net, torch.randn(4, 3, 5, 5), layers=2)  # _Boom after the second BN never runs
    assert [m.name for m in seen] == ["1", "3"]
    assert all(m.training for m in net.modules())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # running stats untouched
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in net.modules())


def test_hooks_are_removed_after_a_forward_that_raises():
    net = _hand_set()
    with pytest.raises(Exception):
        bn_moments(net, torch.randn(1, 3, 4, 4), layers=3)  # only two BN layers: _Boom runs and raises
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in net.modules())


def test_no_batchnorm_or_no_record_no_fingerprint():
    assert fingerprint(nn.Conv2d(3, 4, 3), torch.rand(1, 3, 8, 8)) is None
    assert fingerprint(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), torch.rand(1, 3, 8, 8)) is None  # init
    assert fingerprint(_hand_set(), torch.rand(1, 1, 8, 8)) is None  # not an RGB batch


def _pixels(n: int, seed: int) -> torch.Tensor:
    """Smooth colour images in [0, 1] with a warm cast: red bright, blue dark (a known input distribution)."""
    g = torch.Generator().manual_seed(seed)
    base = nn.functional.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=64, mode="bilinear")
    return (0.35 * base + torch.tensor([0.55, 0.35, 0.1])[:, None, None]).clamp(0, 1)


@pytest.fixture(scope="module")
def resnet():
    """torchvision's ResNet-18 at random init, its running statistics recorded on ImageNet-normalized _pixels."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # a cumulative average: the record is exactly the training inputs'
    mean, std = (torch.tensor(v)[:, None, None] for v in (IMAGENET_MEAN, IMAGENET_STD))
    with torch.no_grad():
        model.train()
        for seed in range(4):
            model((_pixels(16, seed) - mean) / std)
    return model.eval(), mean, std


def test_resnet_record_flags_bgr_and_raw_pixels_but_not_the_right_inputs(resnet):
    model, mean, std = resnet
    pixels = _pixels(4, 99)
    assert fingerprint_check(fingerprint(model, (pixels - mean) / std)) == []
    bgr = fingerprint_check(fingerprint(model, (pixels.flip(1) - mean) / std))
    assert [f.code for f in bgr] == ["input.channel_order"]
    raw = fingerprint_check(fingerprint(model, pixels * 255))
    assert [f.code for f in raw] == ["input.range"]
    assert "observed mean" in raw[0].message and "σ" in raw[0].message


def test_diagnose_reads_the_inputs_as_given_from_its_own_run_not_from_another_forward(resnet):
    """The fingerprint's "as given" moments come from diagnose's run (BNWatch), batch by batch: the findings and
    scores are those of the early-stopped forward on the first bn_inputs inputs, and that forward is not run."""
    model, mean, std = resnet
    x = (_pixels(5, 7).flip(1) - mean) / std  # BGR: flagged
    t = Thresholds(bn_inputs=4)
    alone = fingerprint(model, x[:4])
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
    try:
        result = diagnose(model, x, "layer1", thresholds={"bn_inputs": 4}, batch_size=2)
    finally:
        handle.remove()
    found = [f for f in result.input_findings if f.code == "input.channel_order"]
    assert [f.code for f in found] == [f.code for f in fingerprint_check(alone, t)] == ["input.channel_order"]
    assert found[0].values["scores"] == pytest.approx(alone.scores(), rel=1e-6)
    assert calls[:3] == [2, 2, 1] and len(calls) == 3 + len(alone.moments) - 1  # the run, then the variants only


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "page")  # the last two have no ImageNet class


@pytest.fixture(scope="module")
def pixels(lite0):
    """The photos as the network's preprocessing sees them, in [0, 1] (before its [-1, 1] normalization)."""
    data = pytest.importorskip("skimage.data", reason="the photos need scikit-image (layerscope[samples])")
    images = [Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB") for name in PHOTOS]
    return torch.cat([lite0.preprocess(image) for image in images]) * 0.5 + 0.5


def _codes(result) -> list[str]:
    return [f.code for f in result.input_findings if f.severity in ("error", "warning")]


def test_lite0_right_photos_raise_no_input_warning(lite0, pixels):
    assert _codes(diagnose(lite0, pixels * 2 - 1, "conv_stem")) == []


@pytest.mark.parametrize("index", [0, 1, 2])  # astronaut, chelsea, coffee: single colour photos
def test_lite0_bgr_single_photo_is_flagged(lite0, pixels, index):
    result = diagnose(lite0, pixels[index : index + 1].flip(1) * 2 - 1, "conv_stem")
    assert _codes(result) == ["input.channel_order"]
    assert "BatchNorm" in result.input_findings[0].message


@pytest.mark.parametrize("bare", [False, True], ids=["metadata", "bare module"])
def test_lite0_raw_pixels_and_imagenet_normalization_are_flagged(lite0, pixels, bare):
    model = lite0.module if bare else lite0
    mean, std = (torch.tensor(v)[:, None, None] for v in (IMAGENET_MEAN, IMAGENET_STD))
    assert "input.range" in _codes(diagnose(model, pixels[:4] * 255, "conv_stem"))
    assert "input.mean_std" in _codes(diagnose(model, (pixels[:4] - mean) / std, "conv_stem"))


def test_one_channel_model_has_no_channel_order_note():
    result = diagnose("builtin:digits", torch.rand(2, 1, 28, 28) * 2 - 1)
    assert not any("channel-order" in note for note in result.notes)  # it said "output is not class scores"


def test_show_warns_about_raw_pixels_in_its_index_and_on_stderr(lite0, pixels, tmp_path, capsys):
    raw = show(lite0, pixels[:2] * 255, "conv_stem", out=tmp_path / "raw")
    index = json.loads((tmp_path / "raw" / "index.json").read_text())
    assert "input.range" in [f["code"] for f in index["input_findings"]]
    right = show(lite0, pixels[:2] * 2 - 1, "conv_stem", out=tmp_path / "right")
    assert [f.code for f in right.input_findings if f.severity != "info"] == []
    assert raw.input_findings and Thresholds().bn_inputs > 0


def test_show_cli_prints_the_input_warning(lite0, pixels, tmp_path, capsys):
    from layerscope.cli import main

    array = (pixels[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(array).save(tmp_path / "photo.png")
    assert main(["show", "builtin:efficientnet_lite0", str(tmp_path / "photo.png"), "--layers", "conv_stem",
                 "--out", str(tmp_path / "out"), "--mean", "0,0,0", "--std", "0.0039216,0.0039216,0.0039216"]) == 0
    assert "input" in capsys.readouterr().err
