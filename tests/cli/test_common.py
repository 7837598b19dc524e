"""cli/_common.py: shared options parse into the library's calls; malformed values name their flag."""

from __future__ import annotations

import argparse
import io

import pytest
import torch.nn as nn
from PIL import Image

from layerscope.cli._common import (
    add_image_arguments,
    add_layer_arguments,
    add_model_arguments,
    feed_from_args,
    layers_from_args,
    model_from_args,
    print_image_notes,
    print_preprocessing,
    print_skipped_summary,
)
from layerscope.errors import ImageError, InputError
from layerscope.io import LoadedModel, Preprocessing

MODEL = "torchvision:squeezenet1_1"


def images_from_args(args: argparse.Namespace, loaded: LoadedModel):
    """The batches, loaded image records and skipped files the IMAGES flags give for ``loaded``."""
    feed = feed_from_args(args)
    feed.preprocessing = loaded.preprocessing
    batches = list(feed)
    return batches, feed.images, feed.skipped


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
    loaded = model_from_args(args)
    pre = loaded.preprocessing
    assert (pre.crop, pre.mean, pre.std) == ((32, 48), (0.5,) * 3, (0.25,) * 3)
    assert "overridden: size (32, 48), mean (0.5), std (0.25, 0.25, 0.25)" in pre.source
    assert loaded.overrides == {"size": (32, 48), "mean": (0.5,), "std": (0.25, 0.25, 0.25)}
    assert loaded.native_preprocessing.describe() == (
        "resize shorter side to 256 (bilinear), center-crop 224x224, RGB, mean (0.485, 0.456, 0.406), "
        "std (0.229, 0.224, 0.225) [ImageNet defaults (random-init torchvision model)]"
    )


def test_no_override_flags_record_none(pictures):
    loaded = model_from_args(_parse(MODEL, *pictures))
    assert loaded.overrides == {} and loaded.native_preprocessing is loaded.preprocessing


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
    batches, images, skipped = images_from_args(args, loaded)
    assert len(batches) == 1 and batches[0].shape == (2, 3, 24, 24)
    assert [img.path for img in images] == pictures and skipped == []


def test_images_of_different_shapes_give_a_batch_each(pictures):
    loaded = LoadedModel(nn.Conv2d(3, 1, 1), "x", Preprocessing(resize=20, crop=None))
    batches, _, _ = images_from_args(_parse(MODEL, *pictures), loaded)
    assert [tuple(t.shape) for t in batches] == [(1, 3, 20, 32), (1, 3, 33, 20)]


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
    with pytest.raises(ImageError, match=r"None of the 1 images could be loaded \(.*bad\.png"):
        images_from_args(_parse(MODEL, str(bad)), loaded)


def test_max_pixels_flag(pictures):
    args = _parse(MODEL, pictures[0], "--max-pixels", "100", "--strict")
    with pytest.raises(ImageError, match=r"over the limit of 100"):
        images_from_args(args, model_from_args(args))


@pytest.mark.parametrize("value", ["0", "none", "None"])
def test_max_pixels_zero_or_none_means_no_limit(pictures, value):
    args = _parse(MODEL, pictures[0], "--max-pixels", value)
    assert args.max_pixels is None
    _, images, skipped = images_from_args(args, model_from_args(args))
    assert len(images) == 1 and skipped == []


@pytest.mark.parametrize("value", ["-5", "lots", "1.5"])
def test_bad_max_pixels_is_refused_at_parse_time_naming_the_flag(pictures, capsys, value):
    with pytest.raises(SystemExit) as info:
        _parse(MODEL, pictures[0], "--max-pixels", value)
    assert info.value.code == 2
    assert f"--max-pixels {value!r} is not a pixel count" in capsys.readouterr().err


def test_negative_max_pixels_set_in_code_is_an_input_error(pictures):
    args = _parse(MODEL, pictures[0])
    args.max_pixels = -5
    with pytest.raises(InputError, match=r"--max-pixels -5 is not a pixel count; give a positive number .* or 0"):
        images_from_args(args, model_from_args(args))


@pytest.mark.parametrize(
    ("total", "reasons", "expected"),
    [
        (11, ["not a readable image (3 bytes)", "corrupt or truncated PNG file (x)"],
         "2 of 11 images skipped (unreadable); --strict makes this an error"),
        (5, ["not a readable image", "800x800 = 640,000 pixels is over the limit of 5 - refused as a possible "
             "decompression bomb. If you trust this file, raise the limit"],
         "2 of 5 images skipped (1 unreadable, 1 over --max-pixels); --strict makes this an error"),
        (4, ["x - refused as a possible decompression bomb"],
         "1 of 4 images skipped (over --max-pixels); --strict makes this an error"),
    ],
    ids=["unreadable", "mixed", "too-large"],
)
def test_print_skipped_summary(total, reasons, expected):
    out = io.StringIO()
    print_skipped_summary(total, [(f"{i}.png", r) for i, r in enumerate(reasons)], out)
    assert out.getvalue() == expected + "\n"


def test_print_skipped_summary_prints_nothing_when_none_skipped():
    out = io.StringIO()
    print_skipped_summary(3, [], out)
    assert out.getvalue() == ""


def test_skipped_lines_name_the_path_once(tmp_path, pictures):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x00" * 8)
    args = _parse(MODEL, pictures[0], str(bad))
    _, images, skipped = images_from_args(args, model_from_args(args))
    err = io.StringIO()
    print_image_notes(images, skipped, err)
    line = err.getvalue().splitlines()[-1]
    assert line.startswith(f"skipped {bad}: not a readable image (8 bytes") and line.count("corrupt.png") == 1


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


def test_print_preprocessing_shows_the_models_own_when_overridden(pictures):
    loaded = model_from_args(_parse(MODEL, pictures[0], "--size", "160x200"))
    out = io.StringIO()
    print_preprocessing(loaded, out)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("preprocessing: resize shorter side to 229 (bilinear), center-crop 160x200")
    assert lines[2] == f"  instead of the model's own: {loaded.native_preprocessing.describe()}"


# Flags declared once, beside the option fields, and generated here (add_option_flags).

RENDER_FLAGS = {"--normalize", "--percentiles", "--range", "--cmap", "--max-channels", "--order", "--labels", "--no-labels",
                "--no-caption", "--colorbar", "--no-colorbar", "--scale", "--min-tile", "--padding", "--columns"}


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_render_flags_come_from_the_render_options_fields():
    from layerscope.cli._common import add_render_arguments

    parser = argparse.ArgumentParser()
    add_render_arguments(parser)
    assert _flags(parser) - {"-h", "--help"} == RENDER_FLAGS
    args = parser.parse_args(["--normalize", "robust", "--percentiles", "2,98", "--no-caption", "--labels",
                              "--max-channels", "0", "--columns", "4", "--min-tile", "16"])
    from layerscope.render import RenderOptions

    base = RenderOptions(caption=True, scale=3)
    options = RenderOptions.from_flags(args, base=base)
    assert (options.normalize, options.percentiles, options.caption, options.labels) == ("robust", (2.0, 98.0), False, True)
    assert (options.max_channels, options.columns, options.min_tile, options.scale) == (0, 4, 16, 3)
    assert RenderOptions.from_flags(parser.parse_args([]), base=base) == base  # a flag left out keeps the base


def test_a_render_subset_and_a_bad_pair_naming_its_flag(capsys):
    from layerscope.cli._common import add_render_arguments

    parser = argparse.ArgumentParser()
    add_render_arguments(parser, ["normalize", "percentiles"])
    assert _flags(parser) - {"-h", "--help"} == {"--normalize", "--percentiles"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--percentiles", "1"])
    assert "--percentiles '1' must be two comma-separated numbers, e.g. --percentiles 1,99" in capsys.readouterr().err


def test_run_flags_share_the_run_options_help_and_defaults():
    import dataclasses

    from layerscope.cli._common import add_run_arguments, run_options_from_args
    from layerscope.run import RunOptions

    parser = argparse.ArgumentParser()
    add_run_arguments(parser, "batch_size", "workers", "device", batch_size=32)
    helps = {action.dest: action.help for action in parser._actions}
    fields = {f.name: f for f in dataclasses.fields(RunOptions)}
    assert all(helps[name] == fields[name].metadata["help"] for name in ("batch_size", "workers", "device"))
    assert run_options_from_args(parser.parse_args([])) == RunOptions(batch_size=32)
    assert run_options_from_args(parser.parse_args(["--workers", "2", "--device", "cpu"])) == RunOptions(
        batch_size=32, workers=2, device="cpu")
    with pytest.raises(InputError, match=r"batch_size=0 must be an int of at least 1"):
        run_options_from_args(parser.parse_args(["--batch-size", "0"]))


def test_the_shared_image_and_model_flags_are_the_run_options_ones(pictures):
    from layerscope.cli._common import output_options_from_args, run_options_from_args
    from layerscope.run import RunOptions

    args = _parse(MODEL, pictures[0], "--strict", "--recursive", "--max-pixels", "none", "--device", "cpu")
    assert run_options_from_args(args) == RunOptions(strict=True, recursive=True, max_pixels=None, device="cpu")
    defaults = _parse(MODEL, pictures[0])
    assert (defaults.strict, defaults.recursive, defaults.device) == (False, False, None)  # always parsed
    assert run_options_from_args(defaults) == RunOptions()
    parser = argparse.ArgumentParser()
    from layerscope.cli._common import add_output_arguments

    add_output_arguments(parser)
    assert parser.parse_args([]).overwrite is False
    assert output_options_from_args(parser.parse_args(["--overwrite"])).overwrite is True


def test_an_unknown_field_is_a_programming_error():
    from layerscope.cli._common import add_run_arguments

    with pytest.raises(ValueError, match="RunOptions has no flag for"):
        add_run_arguments(argparse.ArgumentParser(), "batch_sise")
