"""``layerscope diagnose``: table, JSON, --fail-on exit codes (3 gate failed, 2 bad input), --threshold."""

import json

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
    for i in range(2):
        array = (np.random.default_rng(i).random((64, 64)) * 255).astype(np.uint8)
        Image.fromarray(array, mode="L").save(tmp_path / f"g{i}.png")
    code = main(["diagnose", "torchvision:resnet18", str(tmp_path), "--size", "64", "--layers", "conv1",
                 "--json", "--no-channel-order"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in data["input_findings"]] == ["input.grayscale"]
