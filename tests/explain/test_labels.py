"""Channel labels from the probe set: hand-set detectors are named, random channels are not."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from layerscope import Preprocessing
from layerscope.errors import InputError
from layerscope.explain.labels import NO_MATCH, THRESHOLD, channel_labels
from layerscope.explain.probeset import ORIENTATIONS, PERIODS, grating, probe_set

PRE = Preprocessing(None, (64, 64))
ANGLES = (0, 45, 90, 135)


def odd_gabor(angle: float, size: int = 17, sigma: float = 4.0, period: float = 8.0) -> torch.Tensor:
    """An edge detector at ``angle`` degrees (counter-clockwise from horizontal, y up): an odd Gabor, written here
    from its formula and not from the probe code."""
    r = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = -r[:, None], r[None, :]
    t = math.radians(angle)
    across = -x * math.sin(t) + y * math.cos(t)
    return (torch.sin(2 * math.pi * across / period) * torch.exp(-(x**2 + y**2) / (2 * sigma**2))).float()


@pytest.fixture(scope="module")
def hand_set():
    return channel_labels(_hand_model(), "1", preprocessing=PRE, progress=False)


@pytest.mark.parametrize("channel,angle", list(enumerate(ANGLES)))
def test_edge_detectors_are_named_by_their_orientation(hand_set, channel, angle):
    found = hand_set["1"][channel]
    assert found.matched and found.score >= THRESHOLD
    assert found.label.startswith(f"grating {angle}°,"), found


def test_colour_detector_is_named_by_its_hue(hand_set):
    found = hand_set["1"][4]
    assert found.matched and found.label == "hue 0° (red)", found
    assert found.line().startswith("responds to: hue 0° (red) (selectivity ")


def test_a_random_channel_gets_no_clear_match(hand_set):
    found = hand_set["1"][5]
    assert found.label == NO_MATCH and not found.matched and found.score < THRESHOLD
    assert found.best and found.line().startswith(f"responds to: {NO_MATCH}")


@pytest.mark.slow
def test_random_channels_are_no_clear_match_at_least_90_percent():
    """The calibration: default-initialised conv + ReLU, two layers deep, three seeds (384 channels)."""
    scores = []
    for seed in range(3):
        torch.manual_seed(100 + seed)
        model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU())
        found = channel_labels(model, ["1", "3"], preprocessing=PRE, progress=False)
        scores += [c.score for layer in found for c in found[layer]]
        assert found.layers.keys() == {"1", "3"}
    unmatched = float(np.mean(np.asarray(scores) < THRESHOLD))
    print(f"random channels with no clear match: {100 * unmatched:.1f}% of {len(scores)}")
    assert unmatched >= 0.9


def test_deterministic_with_the_seed(hand_set):
    again = channel_labels(_hand_model(), "1", preprocessing=PRE, progress=False)
    assert np.array_equal(again.responses["1"], hand_set.responses["1"])
    assert [c.to_dict() for c in again["1"]] == [c.to_dict() for c in hand_set["1"]]
    assert np.array_equal(probe_set(64, seed=1).images, probe_set(64, seed=1).images)
    assert not np.array_equal(probe_set(64, seed=1).images, probe_set(64, seed=2).images)  # the texture crops


def _hand_model() -> nn.Module:
    """Channels 0-3 edge detectors at 0, 45, 90, 135 degrees (with a threshold: the bias; the preferred grating
    reaches about 70); 4 red minus green and blue (a colour axis at the centre tap, thresholded); 5 random."""
    conv = nn.Conv2d(3, 6, 17, padding=8)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        for c, angle in enumerate(ANGLES):
            conv.weight[c] = odd_gabor(angle)  # the same on R, G and B: luminance
            conv.bias[c] = -60.0
        conv.weight[4, :, 8, 8] = torch.tensor([1.0, -1.0, -1.0])
        conv.bias[4] = -3.0
        conv.weight[5].normal_(0, 0.05, generator=torch.Generator().manual_seed(3))
    return nn.Sequential(conv, nn.ReLU())


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("period", PERIODS)
def test_grating_orientation_and_period_by_its_own_fft(orientation, period):
    """The oracle: the grating's spectral peak. Stripes at orientation t vary along t + 90 degrees."""
    size = 128
    image = grating((size, size), orientation, period) - 0.5
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(image * np.outer(np.hanning(size), np.hanning(size)))))
    ky, kx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    fy, fx = (ky - size // 2) / size, (kx - size // 2) / size  # cycles per pixel, fy pointing down
    wave = math.degrees(math.atan2(-fy, fx)) % 180  # y up
    assert min(abs(wave - (orientation + 90) % 180), 180 - abs(wave - (orientation + 90) % 180)) <= 4
    assert abs(1 / math.hypot(fx, fy) - period) <= 0.1 * period


def test_probe_set_families_and_sizes():
    probes = probe_set((48, 64), textures=False)
    assert probes.images.shape[1:] == (48, 64, 3) and 0 <= probes.images.min() and probes.images.max() <= 1
    families = {p.family for p in probes.probes}
    assert families == {"hue", "grating", "checkerboard", "dots", "opponent"}
    assert sum(p.family == "grating" for p in probes.probes) == 8 * 3 * 2
    assert len({p.group for p in probes.probes if p.family == "hue"}) == 12
    red = probes.images[[p.name for p in probes.probes].index("hue 0° (red), s 1, v 1")]
    assert np.allclose(red, [1.0, 0.0, 0.0])
    with_textures = probe_set(32)
    assert {p.group for p in with_textures.probes if p.family == "texture"} == {
        "texture brick", "texture grass", "texture gravel"}
    with pytest.raises(InputError, match="too small"):
        probe_set(8)


def test_result_saves_and_summarises(hand_set, tmp_path):
    out = hand_set.save(tmp_path / "labels")
    data = json.loads((out / "labels.json").read_text())
    assert data["layers"]["1"][4]["label"] == "hue 0° (red)"
    assert data["threshold"] == THRESHOLD and len(data["probe_set"]["probes"]) == len(hand_set.probes)
    assert "1: 83% of 6 labelled" in hand_set.summary()
    with pytest.raises(InputError, match="was not labelled"):
        hand_set["2"]
    with pytest.raises(InputError, match="threshold"):
        channel_labels(nn.Conv2d(3, 2, 1), threshold=-1)


def test_card_shows_the_label(hand_set):
    from layerscope.explain import card

    import dataclasses

    labelled = card(_hand_model(), "1", 4, steps=1, preprocessing=PRE, labels=hand_set)
    plain = dataclasses.replace(labelled, label=None)
    assert labelled.label == hand_set["1"][4]
    assert labelled.to_dict()["label"]["label"] == "hue 0° (red)"
    assert labelled.picture().shape[0] > plain.picture().shape[0]  # one more line of text


def test_cli_labels_writes_the_folder_and_fails_with_2(tmp_path, capsys):
    from layerscope.cli import main

    assert main(["labels", "builtin:digits", "--layers", "conv1", "--out", str(tmp_path / "l"), "--no-progress"]) == 0
    assert (tmp_path / "l" / "labels.json").exists() and "conv1:" in capsys.readouterr().out
    assert main(["labels", "builtin:digits", "--layers", "nope", "--out", str(tmp_path / "m")]) == 2
    assert main(["labels", "builtin:digits", "--threshold", "-1", "--out", str(tmp_path / "n")]) == 2


def test_show_writes_the_labels_under_each_grid(tmp_path):
    from PIL import Image

    from layerscope import show
    from layerscope.run import Subject

    model = Subject.of(_hand_model(), preprocessing=PRE)  # 64x64 probes
    image = torch.rand(1, 3, 64, 64)
    plain = show(model, image, "1", tmp_path / "plain")
    labelled = show(model, image, "1", tmp_path / "labelled", channel_labels=True)
    files = [r.files["input-000"]["1"] for r in (plain, labelled)]
    heights = [Image.open(f).size[1] for f in files]
    assert heights[1] > heights[0]  # the lines of labels below the grid


def test_report_shows_the_label_in_the_channel_panel(hand_set, tmp_path):
    from layerscope import report

    examples = hand_set.report_examples()
    assert examples["1"][4][0].caption.startswith("responds to: hue 0° (red)")
    assert examples["1"][4][0].image.shape == (64, 64, 3) and len(examples["1"][4]) == 4
    made = report(_hand_model(), torch.rand(1, 3, 64, 64), out=tmp_path / "r.html", layers="1", examples=hand_set)
    assert "responds to: hue 0\\u00b0 (red) (selectivity" in made.html  # the page's data, JSON-escaped
