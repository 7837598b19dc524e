"""Input checks: each planted input mistake gives its stable code; correct input gives none."""

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope.diagnosis import InputStats, Thresholds, check_inputs, diagnose
from layerscope.io import LoadedModel, Preprocessing
from layerscope.zoo import sample_inputs

from .models import MEAN, STD, TwoConv, colour_classifier, normalize, shapes

PREP = Preprocessing(resize=None, crop=(32, 32), mean=MEAN, std=STD, source="test")


def _codes(x, prep=PREP):
    return [f.code for f in check_inputs(InputStats().update(x), prep)]


@pytest.fixture(scope="module")
def pixels():
    return shapes(16, seed=3)[0]  # RGB in [0, 1]


def test_correct_input_has_no_finding(pixels):
    assert _codes(normalize(pixels)) == []


def test_0_255_input_is_input_range(pixels):
    findings = check_inputs(InputStats().update(pixels * 255), PREP)
    assert [f.code for f in findings] == ["input.range"]
    assert "raw 0-255 pixels" in findings[0].message and "255" in findings[0].fix


def test_0_255_normalized_as_if_0_1_is_input_range(pixels):
    assert _codes(normalize(pixels * 255)) == ["input.range"]


def test_unnormalized_0_1_is_input_normalization(pixels):
    findings = check_inputs(InputStats().update(pixels), PREP)
    assert [f.code for f in findings] == ["input.normalization"]
    assert "Normalize(mean=(0.5, 0.5, 0.5)" in findings[0].fix


def test_wrong_size_is_input_size(pixels):
    small = torch.nn.functional.interpolate(normalize(pixels), size=(12, 12), mode="area")
    findings = check_inputs(InputStats().update(small), PREP)
    assert [f.code for f in findings] == ["input.size"]
    assert "12x12" in findings[0].message and "32x32" in findings[0].message


def test_grayscale_fed_to_rgb_model_is_input_grayscale(pixels):
    gray = pixels.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    assert _codes(normalize(gray)) == ["input.grayscale"]


def test_unknown_preprocessing_is_an_info_note(pixels):
    findings = check_inputs(InputStats().update(normalize(pixels)), None)
    assert [(f.code, f.severity) for f in findings] == [("input.unknown", "info")]


@pytest.fixture(scope="module")
def colour_model():
    return colour_classifier()


def test_bgr_input_to_colour_sensitive_classifier_is_channel_order(colour_model):
    x, _ = shapes(48, seed=7)
    result = diagnose(colour_model, normalize(x.flip(1)), preprocessing=PREP)
    finding = [f for f in result.input_findings if f.code == "input.channel_order"]
    assert len(finding) == 1
    assert finding[0].values["confidence_swapped"] > finding[0].values["confidence_given"] + 0.15
    assert "BGR" in finding[0].message and "COLOR_BGR2RGB" in finding[0].fix


def test_channel_order_takes_the_confidence_as_given_from_the_run_and_runs_only_the_swapped_forward(colour_model):
    from layerscope.diagnosis.inputs import swap_confidence

    x = normalize(shapes(48, seed=7)[0].flip(1))
    calls = []
    handle = colour_model.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    try:
        result = diagnose(colour_model, x, preprocessing=PREP, batch_size=16)
    finally:
        handle.remove()
    assert calls == [16, 16, 16, 48]  # the run's three batches, then the swapped sample only (not the sample as given)
    finding = next(f for f in result.input_findings if f.code == "input.channel_order")
    with torch.no_grad():  # the independent answer: both forwards run here
        given, swapped, _ = swap_confidence(colour_model, x, MEAN, STD)
    assert finding.values["confidence_given"] == pytest.approx(given, abs=1e-6)
    assert finding.values["confidence_swapped"] == pytest.approx(swapped, abs=1e-6)


def test_rgb_input_to_colour_sensitive_classifier_has_no_finding(colour_model):
    x, _ = shapes(48, seed=7)
    result = diagnose(colour_model, normalize(x), preprocessing=PREP)
    assert [f.code for f in result.input_findings] == []


def _smooth_gray(seed: int, size: int) -> np.ndarray:
    """A smooth grayscale image: a diagonal ramp with a bright disc (not noise, not constant)."""
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - size / 2 - seed) ** 2 + (xx - size / 3) ** 2 < (size / 5) ** 2) * 100
    return (40 + (yy + xx) * 100 / (2 * size) + disc).astype(np.uint8)


def test_grayscale_image_files_for_rgb_model(tmp_path):
    paths = []
    for i in range(3):
        array = _smooth_gray(i, 40)
        path = tmp_path / f"gray{i}.png"
        Image.fromarray(array, mode="L").save(path)
        paths.append(str(path))
    loaded = LoadedModel(TwoConv(), "test:twoconv", PREP)
    result = diagnose(loaded, paths, channel_order=False)
    assert [f.code for f in result.input_findings] == ["input.grayscale"]
    assert result.inputs == 3


def test_small_image_files_are_flagged_as_upscaled(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(path)
    loaded = LoadedModel(TwoConv(), "test:twoconv", PREP)
    result = diagnose(loaded, [str(path)], channel_order=False)
    sizes = [f for f in result.input_findings if f.code in ("input.size", "input.upscaled")]
    assert [f.code for f in sizes] == ["input.upscaled"]
    assert "8x8" in sizes[0].message and "upscaled" in sizes[0].message


def test_digits_fed_as_0_255_through_the_library():
    images, _ = sample_inputs("digits")
    raw = torch.from_numpy(images).float().unsqueeze(1)
    result = diagnose("builtin:digits", raw)
    assert [f.code for f in result.input_findings] == ["input.range"]
    assert result.input_findings[0].values["max"] == 255.0


def test_thresholds_change_the_size_check(pixels):
    small = torch.nn.functional.interpolate(normalize(pixels), size=(24, 24), mode="area")
    assert _codes(small) == []
    findings = check_inputs(InputStats().update(small), PREP, Thresholds(size_ratio=1.2))
    assert [f.code for f in findings] == ["input.size"]


def test_one_image_a_little_smaller_among_many_is_info_not_a_warning(tmp_path):
    paths = []
    for i, (w, h) in enumerate([(64, 64), (64, 64), (64, 64), (40, 20)]):  # PREP's input is 32x32: 20 is 1.6x smaller
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    loaded = LoadedModel(TwoConv(), "test:twoconv", PREP)
    found = [f for f in diagnose(loaded, paths, channel_order=False).input_findings if f.code == "input.upscaled"]
    assert [(f.severity, f.values["images"]) for f in found] == [("info", 1)]
