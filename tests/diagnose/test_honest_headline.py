"""One honest headline (issue 18): each contradiction once seen on the pretrained network, pinned.

The pretrained EfficientNet-Lite0 (skipped without ``layerscope[pretrained]``) on photos ImageNet has
no class for; hand-set BatchNorm networks for the dead-or-selective rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from layerscope.diagnosis import diagnose


def _photo(name: str) -> Image.Image:
    data = pytest.importorskip("skimage.data", reason="the photos need scikit-image")
    return Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")


@pytest.fixture(scope="module")
def page(lite0):
    """A page of text: nothing ImageNet has a class for, and a grayscale picture."""
    return diagnose(lite0, [_photo("page")])


@pytest.fixture(scope="module")
def cat(lite0):
    return diagnose(lite0, [_photo("chelsea")])


def test_a_trained_network_on_a_photo_it_has_no_class_for_is_trained_and_not_bad(page):
    assert page.tendency.label == "trained" and page.tendency.source == "weights"
    assert page.verdict == "good", page.headline  # a grayscale photo is a correct input: said (info), not warned
    assert [f.severity for f in page.input_findings if f.code == "input.grayscale"] == ["info"]
    assert [layer.name for layer in page.layers if layer.verdict != "good"] == []


def test_the_text_never_says_it_recognises_what_it_sees_nor_that_its_output_is_not_class_scores(cat, page):
    for result in (cat, page):
        text = result.summary()
        assert "recognises what it sees" not in text
        assert "not class scores" not in text  # beside "top-class probability ..." it contradicted itself
        assert "not learning" not in text  # the weights say trained: speckle is not a sign of it


def test_silent_deep_channels_of_a_trained_network_are_selective_not_dead(cat):
    deep = cat["blocks.5.2.bn2"]  # 1152 channels at 7x7: many never fire on one cat photo
    silent = deep.judgement.silent
    assert len(silent) > 0.2 * deep.channels  # silent on this photo ...
    assert len(deep.flagged["dead"]) < 0.1 * deep.channels  # ... but their BatchNorm says they fire in training
    assert deep.flagged["uniform"] == [] or not set(silent) & set(deep.flagged["uniform"])  # and not "uniform"
    assert deep.to_dict()["silent"] == silent


def test_minor_notes_are_grouped_not_one_paragraph_per_layer(cat):
    text = cat.summary()
    assert text.count("Minor, below the cut points (grouped):") <= 1
    minor = text.split("Minor, below the cut points (grouped):")[-1].split("\n\n")[0].strip().splitlines()
    kinds = [line.split(":")[0].strip() for line in minor]
    assert len(kinds) == len(set(kinds))  # one line per kind of finding, whatever the number of layers
    assert "Details:" not in text  # no layer is suspicious or bad, so no per-layer paragraph


def test_the_untrained_copy_headlines_bad_with_its_evidence_and_a_next_step():
    pytest.importorskip("timm", reason="needs layerscope[pretrained]")
    result = diagnose("builtin:efficientnet_lite0:untrained", [_photo("astronaut")], "blocks.6.0")
    why, sep, step = result.headline.partition(" — next: ")
    assert why.startswith("bad: the model looks untrained: 49 of 49 BatchNorm layers still at their initial")
    assert sep and "trained weights" in step


def _bn_relu(beta: float) -> nn.Sequential:
    """conv (identity on one channel) -> BatchNorm with a training record -> ReLU; ``beta`` sets how often it
    fired in training: Phi(beta / gamma)."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1), nn.ReLU()).eval()
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].running_mean.fill_(0.0)
        net[1].running_var.fill_(1.0 - net[1].eps)  # a record: mean 0, variance 1 (not the init: batches tracked)
        net[1].num_batches_tracked.fill_(100)
        net[1].weight.fill_(1.0)
        net[1].bias.fill_(beta)
    return net


@pytest.mark.parametrize("beta, dead", [(-6.0, True), (0.0, False), (2.0, False)])
def test_a_channel_silent_on_these_inputs_is_dead_only_when_its_batchnorm_says_it_was_silent_in_training(beta, dead):
    inputs = -torch.rand(8, 1, 16, 16) - 7.0  # far below the record: the ReLU never fires on these
    layer = diagnose(_bn_relu(beta), inputs, "2", channel_order=False)["2"]
    assert layer.flagged["dead"] == ([0] if dead else [])
    assert layer.judgement.silent == ([] if dead else [0])
    assert layer.flagged["uniform"] == []  # silent is not "uniform"


def test_wrong_inputs_come_first_and_the_layers_are_said_to_follow_from_them():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    with torch.no_grad():
        net[0].weight[2:].zero_()
        net[0].bias[2:].fill_(-1.0)
    result = diagnose(net, torch.rand(8, 1, 16, 16) * 255, channel_order=False)  # 0-255, never scaled
    why, _, step = result.headline.partition(" — next: ")
    assert why.startswith("bad: the inputs look wrong: Input values reach")
    assert "(input.range)" in why and "possibly because of the inputs" in why
    assert step.startswith("Divide")  # the inputs' fix, not the layers'
