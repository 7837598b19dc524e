"""``layerscope diagnose``: table, JSON, --fail-on exit codes (3 gate failed, 2 bad input), --threshold."""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

from layerscope.cli import main
from layerscope.zoo import build_builtin, sample_inputs


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    images, _ = sample_inputs("digits")
    for i, image in enumerate(images[:12]):
        Image.fromarray(image).save(folder / f"d{i:02d}.png")
    return str(folder)


@pytest.fixture(scope="module")
def killed_checkpoint(tmp_path_factory):
    """The trained digits weights with conv1 channels 0-9 killed (zero weights, negative bias)."""
    state = {k: v.clone().contiguous() for k, v in build_builtin("digits").state_dict().items()}
    state["conv1.weight"][:10] = 0
    state["conv1.bias"][:10] = -1.0
    path = tmp_path_factory.mktemp("ckpt") / "killed.safetensors"
    save_file(state, str(path))
    return str(path)


def test_table_input_findings_first_then_layers_then_tendency(digit_files, capsys):
    assert main(["diagnose", "builtin:digits", digit_files]) == 0
    out = capsys.readouterr().out
    assert out.index("Inputs:") < out.index("Layers:") < out.index("Tendency:")
    assert "ok: no problem found with the inputs" in out
    assert "conv1  Conv2d  16x24x24  good" in out
    assert "Feature maps are not explanations" in out


def test_json_is_machine_readable(digit_files, killed_checkpoint, capsys):
    assert main(["diagnose", "builtin:digits", digit_files, "--checkpoint", killed_checkpoint, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    conv1 = data["layers"][0]
    assert conv1["name"] == "conv1" and conv1["verdict"] == "bad"
    assert conv1["flagged"]["dead"] == list(range(10))
    assert set(conv1["flagged"]) == {"dead", "uniform", "noisy", "saturated", "nonfinite", "exploding"}
    assert data["input_findings"] == []
    assert "per_channel" not in conv1


def test_fail_on_gate_exits_3(digit_files, killed_checkpoint, capsys):
    code = main(["diagnose", "builtin:digits", digit_files, "--checkpoint", killed_checkpoint,
                 "--fail-on", "dead>0.2"])
    assert code == 3
    assert "failed the gate --fail-on 'dead>0.2'" in capsys.readouterr().err


def test_fail_on_gate_that_does_not_hold_exits_0(digit_files):
    assert main(["diagnose", "builtin:digits", digit_files, "--fail-on", "dead>0.2, verdict==bad"]) == 0


def test_invalid_fail_on_is_exit_2_naming_token_and_fields(digit_files, capsys):
    assert main(["diagnose", "builtin:digits", digit_files, "--fail-on", "dead>0.2 or deadly>1"]) == 2
    err = capsys.readouterr().err
    assert "at 'deadly'" in err and "fields dead, uniform, noisy, saturated" in err


def test_threshold_override_and_its_error(digit_files, killed_checkpoint, capsys):
    args = ["diagnose", "builtin:digits", digit_files, "--checkpoint", killed_checkpoint, "--json"]
    assert main([*args, "--threshold", "dead_bad=0.9", "--threshold", "dead_suspicious=0.7",
                 "--threshold", "inert_bad=0.9"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][0]["verdict"] == "good"
    assert main([*args, "--threshold", "dead=0.9"]) == 2
    assert "Unknown threshold 'dead'" in capsys.readouterr().err


def test_grayscale_images_for_rgb_model(tmp_path, capsys):
    yy, xx = np.mgrid[:224, :224]
    for i in range(2):  # smooth grayscale images: a ramp and a bright disc
        array = 40 + (yy + xx) * 100 / 448 + ((yy - 100 - i) ** 2 + (xx - 80) ** 2 < 1600) * 100
        Image.fromarray(array.astype(np.uint8), mode="L").save(tmp_path / f"g{i}.png")
    code = main(["diagnose", "torchvision:resnet18", str(tmp_path), "--layers", "conv1", "--json",
                 "--no-channel-order"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in data["input_findings"]] == ["input.grayscale"]


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "coffee"):
        Image.fromarray(getattr(data, name)()[..., :3]).resize((320, 240)).save(folder / f"{name}.png")
    return str(folder)


@pytest.mark.parametrize(
    "flags, code",
    [(["--mean", "0", "--std", "1"], "input.mean_std"), (["--mean", "0.5", "--std", "0.5"], "input.mean_std"),
     (["--size", "32"], "input.size")],
)
def test_overridden_preprocessing_is_reported(photo_dir, capsys, flags, code):
    args = ["diagnose", "torchvision:resnet18", photo_dir, "--layers", "conv1", "--no-channel-order", *flags]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"[warning] {code}:" in out and "ok: no problem found" not in out


@pytest.mark.parametrize("expression", ["dead>2", "dead>20"])
def test_fail_on_share_above_one_is_exit_2_suggesting_percent(digit_files, capsys, expression):
    assert main(["diagnose", "builtin:digits", digit_files, "--fail-on", expression]) == 2
    assert f"write {expression}% " in capsys.readouterr().err


def test_fail_on_percent_share_fires(digit_files, killed_checkpoint):
    args = ["diagnose", "builtin:digits", digit_files, "--checkpoint", killed_checkpoint, "--fail-on", "dead>20%"]
    assert main(args) == 3


def test_threshold_share_above_one_is_exit_2(digit_files, capsys):
    assert main(["diagnose", "builtin:digits", digit_files, "--threshold", "dead_bad=5"]) == 2
    assert "--threshold dead_bad=5%" in capsys.readouterr().err


@pytest.fixture()
def digits_with_a_broken_file(digit_files, tmp_path):
    for name in sorted(os.listdir(digit_files))[:3]:
        shutil.copy(os.path.join(digit_files, name), tmp_path / name)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return tmp_path


def test_json_records_model_weights_preprocessing_and_skipped(digits_with_a_broken_file, killed_checkpoint, capsys):
    folder = digits_with_a_broken_file
    assert main(["diagnose", "builtin:digits", str(folder), "--checkpoint", killed_checkpoint, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "builtin:digits" and data["inputs"] == 3
    assert data["weights"] == f"checkpoint {killed_checkpoint}" and data["checkpoint"] == killed_checkpoint
    assert data["preprocessing"]["mean"] == [0.5] and data["preprocessing"]["input_size"] == [28, 28]
    assert data["native_preprocessing"] == data["preprocessing"]
    assert [s["path"] for s in data["skipped"]] == [str(folder / "broken.png")]
    assert data["skipped"][0]["reason"]
    assert any("1 of 4 images" in note for note in data["notes"])


def test_text_prints_the_skipped_count(digits_with_a_broken_file, capsys):
    assert main(["diagnose", "builtin:digits", str(digits_with_a_broken_file)]) == 0
    out = capsys.readouterr().out
    assert "skipped 1 of 4 images" in out
