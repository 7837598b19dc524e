"""The headline on real networks: ImageNet-trained EfficientNet-Lite0 on well-preprocessed photos reads good
with no false alarm; the same architecture untrained, the untrained digits model and wrong inputs never do.

Real parts only: scikit-image's photos written as files, the shipped weights, the builtin models.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope.capturing import select_layers
from layerscope.capturing.reading import read_points
from layerscope.diagnosis import Thresholds, diagnose, swap_confidence
from layerscope.diagnosis.metrics import rectified
from layerscope.io import load_model
from layerscope.zoo import write_sample_images

PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket")  # the five of docs/diagnose.md


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    data = pytest.importorskip("skimage.data", reason="the photos need scikit-image (layerscope[samples])")
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in PHOTOS:
        Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB").save(folder / f"{name}.png")
        paths.append(str(folder / f"{name}.png"))
    return paths


@pytest.fixture(scope="module")
def trained(lite0, photos):
    return diagnose(lite0, photos)


@pytest.fixture(scope="module")
def untrained(lite0, photos):
    return diagnose("builtin:efficientnet_lite0:untrained", photos)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return [str(p) for p in write_sample_images(tmp_path_factory.mktemp("digits"), count=12, photos=())]


def test_pretrained_on_good_photos_headlines_good_without_a_false_alarm(trained):
    assert trained.headline == "good: no problem found with the inputs or the layers; the model looks trained"
    assert len(trained.layers) == 49  # one per convolution: the BatchNormAct2d that follows it
    assert [layer.name for layer in trained.layers if layer.verdict != "good"] == []
    assert [f.code for f in trained.input_findings if f.severity != "info"] == []
    assert trained.tendency.label == "trained"


def test_pretrained_names_what_it_sees(trained):
    predictions = dict(trained.predictions)
    assert predictions[next(p for p in predictions if p.endswith("chelsea.png"))][0][0] in {
        "tabby", "tiger cat", "Egyptian cat"}
    assert predictions[next(p for p in predictions if p.endswith("coffee.png"))][0][0] == "espresso"
    assert "Predictions (top 3):" in trained.summary()


def test_depthwise_convs_before_batchnorm_are_not_called_dead(lite0, trained):
    # the raw depthwise outputs (--layers convs) are re-centred by their BatchNorm: never rectified
    depthwise = [name for name in select_layers(lite0.module, "convs") if name.endswith("conv_dw")]
    assert depthwise and not any(rectified(lite0.module, name) for name in depthwise)
    # the default reads them after their BatchNormAct2d (ReLU6 inside), where "never positive" is dead
    points = read_points(lite0.module)
    after = [layer for layer in trained.layers if layer.name in {points[name] for name in depthwise}]
    assert len(after) == len(depthwise) and all(layer.rectified for layer in after)


def test_fine_maps_are_not_judged_noisy(trained):
    fine = [layer for layer in trained.layers if layer.stride is not None and layer.stride < 32]
    assert fine and all(layer.flagged["noisy"] == [] for layer in fine)


def test_the_same_architecture_untrained_headlines_bad(untrained):
    assert untrained.verdict == "bad"
    assert untrained.headline.startswith("bad: the model looks untrained")
    assert untrained.tendency.label == "untrained"


@pytest.mark.parametrize("which", ["trained", "untrained"])
def test_layer_wording_never_contradicts_the_model_line(request, which):
    result = request.getfixturevalue(which)
    reasons = " ".join(layer.reason for layer in result.layers)
    assert "smooth spatial structure" not in reasons and "looks trained" not in reasons
    assert "looks untrained" not in reasons


def test_untrained_digits_headline_bad_not_good(digits):
    result = diagnose("builtin:digits:untrained", digits)
    assert result.verdict == "bad" and result.headline.startswith("bad: the model looks untrained")
    assert "verdict: bad: the model looks untrained" in result.summary()


def test_trained_digits_headline_good(digits):
    result = diagnose("builtin:digits", digits)
    assert result.verdict == "good" and result.tendency.label == "trained"


def test_raw_pixels_headline_the_input_error_first(digits):
    loaded = load_model("builtin:digits")
    pixels = torch.stack([torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32))[None] for p in digits])
    result = diagnose(loaded, pixels)  # 0-255, never scaled nor normalized
    assert result.verdict == "bad"
    assert result.headline.startswith("bad: the inputs look wrong: Input values reach 255")
    why, _, step = result.headline.partition(" — next: ")
    assert "(input.range)" in why and step.startswith("Divide the pixels by 255")  # the evidence, then the fix
    assert result.to_dict()["headline"] == result.headline


def _preprocessed(lite0, photos) -> torch.Tensor:
    return lite0.preprocess(photos)


def test_bgr_photos_are_caught_by_batchnorm_statistics_not_by_confidence(lite0, photos):
    # Measured (docs/diagnose.md): EfficientNet-Lite0 is about as confident on these photos in BGR as in
    # RGB, so the classifier-confidence check cannot tell; its BatchNorm statistics can (fingerprint.py).
    x = _preprocessed(lite0, photos)
    given, swapped, classes = swap_confidence(lite0.module, x.flip(1), *(lite0.preprocessing.mean, lite0.preprocessing.std))
    assert classes == 1000 and abs(given - swapped) < Thresholds().channel_order_margin
    result = diagnose(lite0, x.flip(1), "conv_stem")  # BGR as OpenCV reads them
    assert [f.code for f in result.input_findings if f.severity != "info"] == ["input.channel_order"]
    assert "BatchNorm" in result.input_findings[0].message


def test_right_photos_raise_no_channel_order_finding(lite0, photos):
    result = diagnose(lite0, _preprocessed(lite0, photos), "conv_stem")
    assert "input.channel_order" not in [f.code for f in result.input_findings]


def test_unscaled_pixels_into_the_pretrained_network_are_an_error(lite0, photos):
    x = torch.stack([torch.from_numpy(np.asarray(lite0.seen_image(p), dtype=np.float32)).permute(2, 0, 1)
                     for p in photos])  # 0-255 at the right size, never normalized
    result = diagnose(lite0, x, "conv_stem")
    assert [f.code for f in result.input_findings if f.severity == "error"] == ["input.range"]
    assert result.verdict == "bad" and result.headline.startswith("bad: the inputs look wrong: ")
    assert "0-255 pixels" in result.headline and "(input.range) — next: " in result.headline


def test_photos_at_the_wrong_size_are_named(lite0, photos):
    result = diagnose(lite0.with_preprocessing(size=64), photos, "conv_stem")
    finding = next(f for f in result.input_findings if f.code == "input.size")
    assert "64x64" in finding.message and "224x224" in finding.message
    assert result.verdict != "good"
