"""layerscope.show end to end: a real torchvision model, real image files, PNG files and index.json."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import layerscope
from layerscope.capturing import Recorder
from layerscope.errors import ImageError, InputError
from layerscope.io import load_model
from layerscope.io.feed import Feed
from layerscope.render import RenderOptions, render_grids
from layerscope.showing.api import show

LAYERS = ["conv1", "layer1.0.conv1", "layer4.1.conv2"]


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return load_model("torchvision:resnet18").with_preprocessing(size=64)


@pytest.fixture()
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(folder / "noise.png")
    Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))).save(folder / "ramp.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    return folder


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_writes_one_png_per_layer_and_input_and_an_index(resnet, images, tmp_path):
    out = tmp_path / "maps"
    result = show(resnet, [str(images)], LAYERS, out, max_channels=16, labels=True)
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert names == sorted(f"{stem}/{i:02d}_{layer}.png" for stem in ("noise", "ramp") for i, layer in enumerate(LAYERS))
    assert result.skipped[0][0].endswith("broken.png") and result.count == 6

    index = json.loads((out / "index.json").read_text())
    assert index["layerscope_version"] == layerscope.__version__
    assert index["model"]["spec"] == "torchvision:resnet18"
    assert index["preprocessing"] == resnet.preprocessing.to_dict()
    assert [(l["name"], l["module_type"], l["shape"], l["channels"]) for l in index["layers"]] == [
        ("conv1", "Conv2d", [64, 32, 32], 64),
        ("layer1.0.conv1", "Conv2d", [64, 16, 16], 64),
        ("layer4.1.conv2", "Conv2d", [512, 2, 2], 512),
    ]
    assert [entry["name"] for entry in index["inputs"]] == ["noise", "ramp"]
    assert index["inputs"][0]["files"]["conv1"] == "noise/00_conv1.png"
    assert index["inputs"][1]["grids"]["layer4.1.conv2"]["channels"] == list(range(16))
    assert index["render"]["cmap"] == "viridis" and index["render"]["normalize"] == "channel"
    assert index["skipped_inputs"][0]["path"].endswith("broken.png")


def test_files_hold_the_grids_of_the_captured_maps(resnet, images, tmp_path):
    result = show(resnet, [str(images / "noise.png")], ["layer1.0.conv1"], tmp_path / "o", normalize="robust", order="std")
    batch = resnet.preprocess(str(images / "noise.png"))
    with Recorder(resnet.module, "layer1.0.conv1") as rec:
        maps = rec(batch)["layer1.0.conv1"]
    expected = render_grids(maps, normalize="robust", order="std", max_channels=64, caption=True, min_tile=32,
                            layer="layer1.0.conv1", title="layer1.0.conv1 (random init)")[0]
    np.testing.assert_array_equal(_pixels(result.files["noise"]["layer1.0.conv1"]), expected.rgb)


def test_replaces_its_own_earlier_run_but_never_other_files(resnet, images, tmp_path):
    out = tmp_path / "maps"
    show(resnet, [str(images / "ramp.jpg")], ["conv1", "layer1.0.conv1"], out)
    before = (out / "ramp" / "00_conv1.png").read_bytes()
    show(resnet, [str(images / "ramp.jpg")], ["conv1"], out, cmap="gray")  # listed in its index.json: replaced
    assert (out / "ramp" / "00_conv1.png").read_bytes() != before
    assert (out / "ramp" / "01_layer1.0.conv1.png").exists()  # a different run deletes nothing it does not rewrite
    listed = json.loads((out / "index.json").read_text())["files"]
    assert listed == ["ramp/00_conv1.png", "ramp/01_layer1.0.conv1.png"]  # ...and goes on owning it
    show(resnet, [str(images / "ramp.jpg")], ["conv1"], out, overwrite=True)  # --overwrite: this run's output alone
    assert not (out / "ramp" / "01_layer1.0.conv1.png").exists()
    (out / "ramp" / "notes.txt").write_text("user data")
    with pytest.raises(InputError, match=r"already holds ramp/notes\.txt, which layerscope did not write.*overwrite=True"):
        show(resnet, [str(images / "ramp.jpg")], ["conv1"], out)
    assert (out / "ramp" / "notes.txt").read_text() == "user data"


def test_without_out_the_grids_are_returned(resnet, images):
    result = show(resnet, [str(images / "ramp.jpg")], ["conv1"], max_channels=4)
    grid = result.grids["ramp"]["conv1"]
    assert result.files == {} and result.index is None and grid.meta.channels == (0, 1, 2, 3)


def test_strict_stops_at_an_unreadable_image(resnet, images):
    with pytest.raises(ImageError, match="broken.png"):
        show(resnet, Feed([str(images)], strict=True), ["conv1"])


def test_global_normalization_shares_one_range_across_inputs(resnet, images):
    result = show(resnet, [str(images)], ["conv1"], normalize="global")
    noise, ramp = (entry["grids"]["conv1"]["normalization"] for entry in result.inputs)
    batch = resnet.preprocess([str(images / "noise.png"), str(images / "ramp.jpg")])
    with Recorder(resnet.module, "conv1") as rec:
        acts = rec(batch)["conv1"]
    assert noise["vmin"] == ramp["vmin"] == pytest.approx([acts.min().item()])
    assert noise["vmax"] == ramp["vmax"] == pytest.approx([acts.max().item()])


def test_same_stems_get_distinct_folders(resnet, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        Image.new("RGB", (40, 40), (10, 200, 30)).save(tmp_path / sub / "x.png")
    result = show(resnet, [str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")], ["conv1"], tmp_path / "o")
    assert sorted(result.files) == ["x", "x-2"]


def test_layers_that_cannot_be_laid_out_are_skipped_with_the_reason(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 32), nn.Unflatten(1, (2, 2, 2, 2, 2)))
    result = show(model, torch.randn(1, 3, 8, 8), "all", tmp_path / "o")
    assert [row["name"] for row in result.layers] == ["0", "1", "2"]
    assert result.skipped_layers[0][0] == "3" and "shape" in result.skipped_layers[0][1]
    index = json.loads((tmp_path / "o" / "index.json").read_text())
    assert index["skipped_layers"][0]["layer"] == "3"


def test_bad_options_fail_before_any_work(resnet, images, tmp_path):
    with pytest.raises(InputError, match="Unknown normalization 'robus'"):
        show(resnet, [str(images)], ["conv1"], tmp_path / "o", normalize="robus")
    assert not (tmp_path / "o").exists()


def test_builtin_digits_from_a_spec_string(tmp_path):
    from layerscope.zoo import sample_inputs

    digits, _ = sample_inputs("digits")
    for i in range(2):
        Image.fromarray(digits[i]).save(tmp_path / f"digit{i}.png")
    result = show("builtin:digits", [str(tmp_path / "digit*.png")], None, tmp_path / "o", labels=True)
    assert [(row["name"], row["shape"]) for row in result.layers] == [("conv1", [16, 24, 24]), ("conv2", [32, 8, 8])]
    assert sorted(result.files) == ["digit0", "digit1"]
    index = json.loads((tmp_path / "o" / "index.json").read_text())
    assert index["model"]["spec"] == "builtin:digits" and index["preprocessing"]["channels"] == 1


def test_one_pixel_strips_are_stretched_to_be_visible(resnet, images, tmp_path):
    result = show(resnet, [str(images / "noise.png")], ["fc"], tmp_path / "o", caption=False, colorbar=False, labels=False)
    from layerscope.showing.api import STRIP_HEIGHT

    assert _pixels(result.files["noise"]["fc"]).shape[0] == STRIP_HEIGHT + 2  # 1 px padding above and below


def test_to_dict_is_the_index_and_options_combine_with_keywords(resnet, images, tmp_path):
    out = tmp_path / "maps"
    options = RenderOptions(normalize="robust", max_channels=8)
    result = show(resnet, [str(images / "noise.png")], ["conv1"], out, options=options, order="std")
    assert result.options == options.replace(order="std")
    assert json.loads((out / "index.json").read_text()) == json.loads(json.dumps(result.to_dict()))
    assert result.to_dict()["render"]["order"] == "std" and not hasattr(result, "record")


def test_global_ranges_are_kept_in_the_options(resnet, images):
    result = show(resnet, [str(images)], ["conv1"], normalize="global")
    (low, high) = result.options.value_range["conv1"]
    assert result.to_dict()["render"]["value_range"] == {"conv1": [low, high]}
    assert result.inputs[0]["grids"]["conv1"]["normalization"]["vmin"] == [pytest.approx(low)]


def test_misspelt_option_keyword_says_which(resnet, images):
    with pytest.raises(InputError, match="Unknown render option 'max_channel'. Did you mean 'max_channels'"):
        show(resnet, [str(images)], ["conv1"], max_channel=4)


@pytest.mark.parametrize("out", [None, "o"])
def test_html_repr_is_a_table_of_escaped_names_and_thumbnails(tmp_path, out):
    model = nn.Sequential()
    model.add_module("<b>conv</b>", nn.Conv2d(3, 4, 3))
    model.add_module("relu", nn.ReLU())
    model.add_module("wide", nn.Conv2d(4, 64, 3))
    result = show(model, torch.randn(2, 3, 40, 40), "type:Conv2d", tmp_path / out if out else None, max_channels=0)
    page = result._repr_html_()
    assert "<b>conv</b>" not in page and "&lt;b&gt;conv&lt;/b&gt;" in page and "&lt;tensor&gt;" in page
    thumbs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(thumbs) == 4  # 2 inputs x 2 layers
    sizes = [Image.open(io.BytesIO(base64.b64decode(t))).size for t in thumbs]
    assert all(w <= 160 and h <= 96 for w, h in sizes)
