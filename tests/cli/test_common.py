"""cli/_common.py: shared options parse into the library's calls; malformed values name their flag."""

from __future__ import annotations

import argparse
import io

import pytest
import torch
import torch.nn as nn
from PIL import Image

from layerscope.cli._common import (
    add_image_arguments,
    add_layer_arguments,
    add_model_arguments,
    images_from_args,
    layers_from_args,
    model_from_args,
    print_image_notes,
    print_preprocessing,
)
from layerscope.errors import ImageError, InputError
from layerscope.io import LoadedModel, Preprocessing

MODEL = "torchvision:squeezenet1_1"


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    add_image_arguments(parser)
    add_layer_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture()
def pictures(tmp_path):
    paths = []
    for name, size in (("wide.png", (64, 40)), ("tall.jpg", (30, 50))):
        paths.append(str(tmp_path / name))
        Image.new("RGB", size, (200, 100, 50)).save(paths[-1])
    return paths


def test_overrides_reach_the_preprocessing(pictures):
    args = _parse(MODEL, *pictures, "--size", "32x48", "--mean", "0.5", "--std", "0.25,0.25,0.25")
    pre = model_from_args(args).preprocessing
    assert (pre.crop, pre.mean, pre.std) == ((32, 48), (0.5,) * 3, (0.25,) * 3)
    assert "overridden: size (32, 48), mean (0.5), std (0.25, 0.25, 0.25)" in pre.source


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--mean", "a,b,c", r"--mean 'a,b,c' is not a comma-separated list of numbers"),
        ("--std", "1,2", r"--std '1,2' needs 1 or 3 numbers"),
        ("--size", "big", r"--size 'big' is not a positive size"),
        ("--size", "0", r"--size '0' is not a positive size"),
        ("--std", "0", r"std=\(0.0, 0.0, 0.0\) must be positive .*from --size / --mean"),
    ],
)
def test_malformed_values_name_the_flag(pictures, flag, value, message):
    with pytest.raises(InputError, match=message):
        model_from_args(_parse(MODEL, pictures[0], flag, value))


def test_grayscale_on_an_rgb_model_is_refused(pictures):
    with pytest.raises(InputError, match=r"--grayscale gives 1-channel input, but the first convolution .* takes 3"):
        model_from_args(_parse(MODEL, pictures[0], "--grayscale"))


def test_layers_repeated_and_comma_separated_keep_regexes_whole(pictures):
    args = _parse(MODEL, pictures[0], "--layers", "features.0, features.3", "--layers", r"re:features\.(1|2)")
    assert layers_from_args(args) == ["features.0", "features.3", r"re:features\.(1|2)"]
    assert layers_from_args(_parse(MODEL, pictures[0])) is None


def test_images_become_one_batch(pictures):
    args = _parse(MODEL, *pictures, "--size", "24")
    loaded = model_from_args(args)
    batch, images, skipped = images_from_args(args, loaded)
    assert isinstance(batch, torch.Tensor) and batch.shape == (2, 3, 24, 24)
    assert [img.path for img in images] == pictures and skipped == []


def test_images_of_different_shapes_give_a_list(pictures):
    loaded = LoadedModel(nn.Conv2d(3, 1, 1), "x", Preprocessing(resize=20, crop=None))
    batch, _, _ = images_from_args(_parse(MODEL, *pictures), loaded)
    assert [tuple(t.shape) for t in batch] == [(1, 3, 20, 32), (1, 3, 33, 20)]


def test_bad_image_is_skipped_unless_strict(tmp_path, pictures):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    loaded = model_from_args(_parse(MODEL, pictures[0]))
    _, images, skipped = images_from_args(_parse(MODEL, pictures[0], str(bad)), loaded)
    assert len(images) == 1 and skipped[0][0] == str(bad)
    with pytest.raises(ImageError, match=r"bad\.png: not a readable image"):
        images_from_args(_parse(MODEL, pictures[0], str(bad), "--strict"), loaded)


def test_no_loadable_image_is_an_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    loaded = model_from_args(_parse(MODEL, str(bad)))
    with pytest.raises(ImageError, match=r"None of the 1 images could be loaded: .*bad\.png"):
        images_from_args(_parse(MODEL, str(bad)), loaded)


def test_max_pixels_flag(pictures):
    args = _parse(MODEL, pictures[0], "--max-pixels", "100", "--strict")
    with pytest.raises(ImageError, match=r"over the limit of 100"):
        images_from_args(args, model_from_args(args))


def test_print_preprocessing_and_notes(tmp_path, pictures):
    loaded = model_from_args(_parse(MODEL, pictures[0]))
    out = io.StringIO()
    print_preprocessing(loaded, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"model: {MODEL} (SqueezeNet), weights: random init"
    assert lines[1] == f"preprocessing: {loaded.preprocessing.describe()}"
    assert lines[2] == "  note: random init (seed 0)"
    rgba = tmp_path / "alpha.png"
    Image.new("RGBA", (2, 2)).save(rgba)
    _, images, skipped = images_from_args(_parse(MODEL, str(rgba)), loaded)
    err = io.StringIO()
    print_image_notes(images, [("x.png", "broken")], err)
    assert err.getvalue().splitlines() == [
        f"  {rgba}: RGBA alpha composited onto background (255, 255, 255)",
        "skipped x.png: broken",
    ]
