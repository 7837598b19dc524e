"""layerscope.show's views, display names, captions, predictions and layer defaults, on real models and image files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from layerscope.capturing import Recorder
from layerscope.io import load_model
from layerscope.render import RenderOptions, render_grids
from layerscope.render.overlays import overlay
from layerscope.render.summary import summarize
from layerscope.render.views import MIN_SIZE, VIEWS, captioned
from layerscope.showing.api import MANY_LAYERS, show

LAYERS = ["conv1", "layer1.0.conv1"]


@pytest.fixture(scope="module")
def resnet():
    return load_model("torchvision:resnet18").with_preprocessing(size=64)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "wide.png"
    yy, xx = np.mgrid[0:70, 0:90]
    pixels = np.stack([xx * 2.8, yy * 3.6, (xx + yy) * 1.6], -1).astype(np.uint8)  # wider than tall: cropped
    Image.fromarray(pixels).save(path)
    return path


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


EXPECTED = {
    "grid": ["wide/00_conv1.png", "wide/01_layer1.0.conv1.png"],
    "progression": ["wide/progression.png"],
    **{view: [f"wide/00_conv1.{view}.png", f"wide/01_layer1.0.conv1.{view}.png"]
       for view in ("mean", "overlay", "pca", "figure", "importance")},
}


@pytest.mark.parametrize("view", [name for name in VIEWS if not VIEWS[name].needs_attention])  # ViTs: tests/explain
def test_each_view_writes_its_files_and_lists_them_in_the_index(resnet, photo, tmp_path, view):
    out = tmp_path / "views"
    result = show(resnet, [str(photo)], LAYERS, out, views=view)
    index = json.loads((out / "index.json").read_text())
    assert sorted(index["files"]) == sorted(EXPECTED[view])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == sorted(EXPECTED[view])
    assert index["views"] == [view]
    entry = index["inputs"][0]
    listed = entry["files"] if view == "grid" else entry["views"][view]
    listed = list(listed.values()) if isinstance(listed, dict) else [listed]
    assert sorted(listed) == sorted(EXPECTED[view])
    assert all(_pixels(out / name).shape[2] == 3 for name in EXPECTED[view])
    assert result.written[-1] == "index.json"


def test_several_views_in_one_run_share_the_folder_and_index(resnet, photo, tmp_path):
    out = tmp_path / "views"
    show(resnet, [str(photo)], LAYERS, out, views="grid,mean,overlay,pca,progression,figure,importance")
    index = json.loads((out / "index.json").read_text())
    assert sorted(index["files"]) == sorted(name for names in EXPECTED.values() for name in names)


def test_the_overlay_is_drawn_on_the_image_the_model_saw(resnet, photo, tmp_path):
    result = show(resnet, [str(photo)], ["layer1.0.conv1"], tmp_path / "o", views="overlay")
    seen = np.asarray(resnet.seen_image(photo))  # resized to 64 on the short side, centre-cropped to 64x64
    assert seen.shape == (64, 64, 3)
    with Recorder(resnet.module, "layer1.0.conv1") as rec:
        maps = rec(resnet.preprocess(photo))["layer1.0.conv1"][0]
    factor = -(-MIN_SIZE // 64)
    blended = overlay(seen, summarize(maps, "mean"), image_weight=0.45).repeat(factor, 0).repeat(factor, 1)
    expected = captioned(blended, "layer1.0.conv1 (random init) | overlay")
    np.testing.assert_array_equal(_pixels(tmp_path / "o" / result.inputs[0]["views"]["overlay"]["layer1.0.conv1"]),
                                  expected)


def test_display_names_and_random_init_go_into_captions_and_the_index(resnet, photo, tmp_path):
    out = tmp_path / "named"
    result = show(resnet, [str(photo)], ["conv1"], out, names={"conv1": "conv1_1"}, max_channels=8)
    grid = json.loads((out / "index.json").read_text())["inputs"][0]["grids"]["conv1"]
    assert grid["title"] == "conv1_1 (random init)"
    with Recorder(resnet.module, "conv1") as rec:
        maps = rec(resnet.preprocess(photo))["conv1"]
    expected = render_grids(maps, RenderOptions(max_channels=8, caption=True, min_tile=32), layer="conv1",
                            title="conv1_1 (random init)")[0]
    np.testing.assert_array_equal(_pixels(result.files["wide"]["conv1"]), expected.rgb)


def test_trained_weights_get_no_random_init_caption(tmp_path):
    from layerscope.zoo import write_sample_images

    digit = write_sample_images(tmp_path / "in", count=1, photos=())[0]
    shown = show("builtin:digits", [str(digit)], ["conv1"], tmp_path / "o", names={"conv1": "conv1 (5x5)"})
    assert shown.inputs[0]["grids"]["conv1"]["title"] == "conv1 (5x5)"
    untrained = show("builtin:digits:untrained", [str(digit)], ["conv1"], tmp_path / "u")
    assert untrained.inputs[0]["grids"]["conv1"]["title"] == "conv1 (random init)"


def test_a_classifier_with_known_classes_gets_its_predictions(tmp_path):
    from layerscope.zoo import write_sample_images

    digits = write_sample_images(tmp_path / "in", count=2, photos=())
    result = show("builtin:digits", [str(p) for p in digits], ["conv1"], tmp_path / "o")
    index = json.loads((tmp_path / "o" / "index.json").read_text())
    for entry, path in zip(index["inputs"], digits):
        label = path.stem.rsplit("label", 1)[1]  # digit_00_label0 -> "0"
        assert entry["predictions"][0]["class"] == label
        assert entry["prediction"].startswith(f"{label} ")
    assert len(result.inputs[0]["predictions"]) == 3


def test_a_model_without_class_names_gets_numbered_classes(resnet, photo, tmp_path):
    """The one prediction rule (as in the report and the explorer): class scores without names are ``class i``."""
    result = show(resnet, [str(photo)], ["conv1"], tmp_path / "o")
    names = [p["class"] for p in result.inputs[0]["predictions"]]
    assert len(names) == 3 and all(name.startswith("class ") for name in names)


def test_the_html_repr_shows_other_views_without_grids(resnet, photo, tmp_path):
    result = show(resnet, [str(photo)], LAYERS, tmp_path / "o", views="overlay")
    assert result._repr_html_().count("<img") == 2


def test_token_models_default_to_their_block_outputs():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=3).eval()
    result = show(model, torch.rand(1, 3, 224, 224), max_channels=4)
    assert [row["name"] for row in result.layers] == ["blocks.0", "blocks.1", "blocks.2"]
    assert [row["layout"] for row in result.layers] == ["tokens"] * 3


def test_attention_internals_are_refused_with_advice():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1).eval()
    result = show(model, torch.rand(1, 3, 224, 224), ["blocks.0.attn.q_norm", "blocks.0"], max_channels=4)
    assert [row["name"] for row in result.layers] == ["blocks.0"]
    (name, reason), = result.skipped_layers
    assert name == "blocks.0.attn.q_norm"
    assert "attention internal of shape 3x197x64" in reason and "Show the block output instead" in reason


def test_more_than_fifty_layers_get_a_note_with_a_tighter_pattern():
    model = nn.Sequential(*[nn.Conv2d(1, 1, 1) for _ in range(MANY_LAYERS + 1)])
    result = show(model, torch.rand(1, 1, 4, 4), max_channels=1, caption=False)
    assert len(result.layers) == MANY_LAYERS + 1
    (note,) = result.notes
    assert note.startswith(f"{MANY_LAYERS + 1} layers selected (more than {MANY_LAYERS}")
    assert "--layers 0,25,50" in note
