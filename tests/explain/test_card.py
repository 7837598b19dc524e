"""explain/card.py: a channel's card from a real scan (builtin digits) and a model with a planted dead channel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from layerscope import Preprocessing, diagnose, importance, load_stats, scan
from layerscope.cli import main
from layerscope.errors import InputError, LayerNotFoundError
from layerscope.explain import card

STEPS = 4  # the visualization's own tests check what it optimizes; here only that the card shows it


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    from layerscope.zoo import sample_inputs

    folder = tmp_path_factory.mktemp("digits")
    pictures, _ = sample_inputs("digits")
    for i in range(10):
        Image.fromarray(pictures[i]).save(folder / f"digit{i}.png")
    return folder


@pytest.fixture(scope="module")
def scanned(digit_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("scan") / "scan"
    scan("builtin:digits", str(digit_files), ["conv1", "conv2"], out=out, k=4, progress=False)
    return out


@pytest.fixture(scope="module")
def digits_card(scanned, digit_files):
    images = [str(digit_files / "digit0.png"), str(digit_files / "digit1.png")]
    return card("builtin:digits", "conv2", 5, stats=scanned, images=images, target="7", examples=3, steps=STEPS)


def test_statistics_are_the_scans(digits_card, scanned):
    layer = load_stats(scanned)["conv2"]
    stats = digits_card.statistics
    assert (stats["mean"], stats["max"], stats["active"]) == (float(layer.mean[5]), float(layer.max[5]),
                                                              float(layer.active[5]))
    assert stats["peaks"]["counts"] == layer.peaks.counts[5].tolist() and stats["inputs"] == 10


@pytest.mark.parametrize("rank", [0, 1, 2])
def test_examples_are_the_top_entries_and_their_crops(digits_card, scanned, rank):
    stats = load_stats(scanned)
    pixels, entry = digits_card.examples[rank]
    crop = stats.crop("conv2", 5, rank)
    assert entry["index"] == stats.top("conv2", 5)[rank].index and entry["reproduced"] is True
    np.testing.assert_array_equal(pixels, np.repeat(crop.image[..., :1], 3, axis=-1))


def test_importance_is_the_channels_and_its_rank(digits_card, digit_files):
    images = [str(digit_files / "digit0.png"), str(digit_files / "digit1.png")]
    scores = importance("builtin:digits", images, ["conv2"], target=7)["conv2"]
    assert [row["importance"] for row in digits_card.importance] == scores[:, 5].tolist()
    assert [row["rank"] for row in digits_card.importance] == [int((s > s[5]).sum()) + 1 for s in scores]
    assert [row["class_name"] for row in digits_card.importance] == ["7", "7"]


def test_the_picture_is_deterministic_and_every_part_changes_it(digits_card, scanned):
    again = card("builtin:digits", "conv2", 5, stats=scanned, examples=3, steps=STEPS)
    assert again.visualization.tobytes() == digits_card.visualization.tobytes()
    bare = card("builtin:digits", "conv2", 5, steps=STEPS)
    assert bare.picture().shape[0] < again.picture().shape[0] < digits_card.picture().shape[0]
    assert again.png_bytes() == card("builtin:digits", "conv2", 5, stats=scanned, examples=3, steps=STEPS).png_bytes()


def test_flags_name_a_planted_dead_channel():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight[1], model[0].bias[1] = 0.0, -1.0
    images, pre = torch.rand(3, 3, 16, 16), Preprocessing(resize=16, crop=(16, 16))
    dead = card(model, "1", 1, images=images, steps=STEPS, preprocessing=pre)
    alive = card(model, "1", 2, images=images, steps=STEPS, preprocessing=pre)
    assert dead.flags == ["dead"] == [f for f, c in diagnose(model, images, ["1"]).layers[0].flagged.items() if 1 in c]
    assert alive.flags == []
    assert [row["importance"] for row in dead.importance] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("layer, channel, error, match", [
    ("conv2", 32, InputError, r"channels 0..31 in the scan; got 32"),
    ("fc", 0, LayerNotFoundError, r"No scanned layer 'fc'.*Scanned: conv1, conv2"),
    ("conv2", -1, InputError, "one channel index"),
])
def test_bad_channels_and_layers(scanned, layer, channel, error, match):
    with pytest.raises(error, match=match):
        card("builtin:digits", layer, channel, stats=scanned, steps=STEPS)


def test_cli_writes_the_png_and_refuses_to_overwrite_it(scanned, digit_files, tmp_path, capsys):
    out = tmp_path / "card.png"
    argv = ["card", "builtin:digits", str(digit_files / "digit3.png"), "--layer", "conv1", "--channel", "2",
            "--stats", str(scanned), "--steps", str(STEPS), "--examples", "2", "--out", str(out)]
    assert main(argv) == 0
    assert "Card('conv1' channel 2: 2 examples, statistics, importance on 1 image(s))" in capsys.readouterr().out
    with Image.open(out) as picture:
        assert picture.mode == "RGB" and picture.width >= 320
    assert main(argv) == 2 and "overwrite" in capsys.readouterr().err


def test_the_report_shows_the_cards_when_their_channel_is_clicked(digits_card, digit_files, scanned):
    import base64
    import io
    import json
    import re

    from layerscope import report

    other = card("builtin:digits", "conv1", 2, stats=scanned, examples=2, steps=STEPS)
    page = report("builtin:digits", [str(digit_files / "digit0.png")], ["conv1", "conv2"],
                  examples=[digits_card, other]).html
    data = json.loads(re.search(r'<script type="application/json" id="[^"]*">(.*?)</script>', page, re.S).group(1))
    shown = data["examples"]["conv2"]["5"]
    assert [item["caption"] for item in shown] == ["channel card of conv2 channel 5"] + [
        f"#{e['rank'] + 1} {e['source']}" for _, e in digits_card.examples]
    png = base64.b64decode(data["pictures"][shown[0]["picture"]].split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as picture:
        np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), digits_card.picture())
    assert len(data["examples"]["conv1"]["2"]) == 3


def test_card_saves_a_folder_or_one_png_and_says_which(digits_card, tmp_path):
    import json

    out = digits_card.save(tmp_path / "card")
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "card.png"]
    assert json.loads((out / "card.json").read_text())["channel"] == 5
    with pytest.raises(InputError, match=r"card.save_png\("):
        digits_card.save(tmp_path / "card.png")
    with Image.open(digits_card.save_png(tmp_path / "card.png")) as picture:
        assert picture.size[0] == digits_card.picture().shape[1]
    assert "Channel 5 of conv2 (builtin:digits)" in digits_card.summary()
