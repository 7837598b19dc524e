"""End to end through `layerscope layers`: checkpoints and bad options give exit code 2 with the fix."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from layerscope.cli import main


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_safetensors_checkpoint_loads(tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    save_file(torchvision.models.squeezenet1_1(weights=None).state_dict(), str(path))
    assert main(["layers", "torchvision:squeezenet1_1", "--no-run", "--checkpoint", str(path)]) == 0
    assert "features.0" in capsys.readouterr().out


def test_checkpoint_that_does_not_fit_exits_2(tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    save_file(torchvision.models.squeezenet1_1(weights=None, num_classes=10).state_dict(), str(path))
    code = main(["layers", "torchvision:squeezenet1_1", "--no-run", "--checkpoint", str(path)])
    assert code == 2  # 1000-class architecture, 10-class weights
    assert "shape mismatches (classifier.1.weight" in capsys.readouterr().err


def test_malicious_checkpoint_refused_with_exit_2(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": _Evil(str(marker))}, path)
    code = main(["layers", "torchvision:squeezenet1_1", "--no-run", "--checkpoint", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert "layerscope layers: error: Checkpoint" in err and "--trust-checkpoint" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mean", "x"], "--mean 'x' is not a comma-separated list of numbers"),
        (["--size", "-3"], "--size '-3' is not a positive size"),
        (["--device", "gpu7"], "Device 'gpu7' cannot be used"),
    ],
)
def test_bad_options_exit_2_naming_the_flag(capsys, argv, message):
    assert main(["layers", "torchvision:squeezenet1_1", "--no-run", *argv]) == 2
    assert message in capsys.readouterr().err


def test_lightning_checkpoint_with_model_prefix_loads_with_a_note(tmp_path, capsys):
    path = tmp_path / "epoch=9.ckpt"
    state = {"model." + k: v for k, v in torchvision.models.squeezenet1_1(weights=None).state_dict().items()}
    torch.save({"state_dict": state, "epoch": 9}, path)
    assert main(["layers", "torchvision:squeezenet1_1", "--no-run", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: stripped the prefix 'model.' from every checkpoint key to fit the model" in out
    assert "random init" not in out  # the checkpoint replaced the random init


def test_pt2_file_as_model_lists_its_layers(tmp_path, capsys):
    path = tmp_path / "squeezenet.pt2"
    model = torchvision.models.squeezenet1_1(weights=None, num_classes=10).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 64, 64),)), str(path))
    assert main(["layers", str(path), "--trust-checkpoint"]) == 0
    out = capsys.readouterr().out
    assert "input 1x3x64x64" in out and "UnflattenedModule" in out
    assert "features.0 " in out and "classifier.1 " in out


@pytest.mark.parametrize("command", ["show", "diagnose"])
def test_negative_max_pixels_exits_2_naming_the_flag(tmp_path, capsys, command):
    extra = ["--out", str(tmp_path / "out")] if command == "show" else []
    assert main([command, "torchvision:squeezenet1_1", str(tmp_path), "--max-pixels", "-5", *extra]) == 2
    assert "--max-pixels '-5' is not a pixel count; give a positive number" in capsys.readouterr().err
