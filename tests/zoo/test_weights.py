"""The shipped builtin:digits weights: integrity, stated accuracy, learned structure, untrained copy."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from layerscope.errors import CheckpointError, ModelSpecError
from layerscope.zoo import _registry, build_builtin, builtin_info, list_builtin

from .conftest import normalized

WEIGHTS = Path(_registry.__file__).parent / "weights"


def kernel_smoothness(weight: torch.Tensor) -> float:
    """Mean lag-1 spatial autocorrelation of conv kernels: ~0 for random init, high for edge detectors."""
    w = weight - weight.mean((-2, -1), keepdim=True)
    across = (w[..., 1:] * w[..., :-1]).mean((-2, -1))
    down = (w[..., 1:, :] * w[..., :-1, :]).mean((-2, -1))
    return float(((across + down) / 2 / (w**2).mean((-2, -1))).mean())


def test_list_builtin():
    assert list_builtin() == ["digits", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def test_metadata_sha256_matches_weights_file():
    meta = json.loads((WEIGHTS / "digits.json").read_text())
    assert hashlib.sha256((WEIGHTS / "digits.safetensors").read_bytes()).hexdigest() == meta["sha256"]


def test_shipped_files_are_small():
    files = list(WEIGHTS.iterdir()) + list((WEIGHTS.parent / "samples").iterdir())
    assert sum(f.stat().st_size for f in files) < 5 * 2**20


def test_info_describes_the_preprocessing():
    info = builtin_info("builtin:digits")
    assert (info.name, info.input_size, info.channels, info.mean, info.std) == ("digits", (28, 28), 1, (0.5,), (0.5,))
    assert info.classes == tuple("0123456789")
    assert info.training_command.startswith("python -m layerscope.zoo.train digits")
    assert Path(info.weights_file) == WEIGHTS / "digits.safetensors"


def test_info_to_dict_is_json():
    assert json.loads(json.dumps(builtin_info("digits").to_dict()))["input_size"] == [28, 28]


def test_stated_accuracy_reproduces_on_held_out_split(held_out):
    info = builtin_info("digits")
    with torch.no_grad():
        predicted = build_builtin("digits")(normalized(held_out.images)).argmax(1).numpy()
    measured = float((predicted == held_out.labels).mean())
    assert info.held_out_count == len(held_out.labels) == 360
    assert info.accuracy >= 0.97
    assert abs(measured - info.accuracy) <= 1.5 / 360  # one image may flip on another CPU


def test_untrained_copy_is_at_chance(held_out):
    with torch.no_grad():
        predicted = build_builtin("digits", trained=False)(normalized(held_out.images)).argmax(1).numpy()
    assert (predicted == held_out.labels).mean() < 0.3


def test_untrained_copy_is_deterministic():
    first = build_builtin("digits", trained=False).state_dict()
    second = build_builtin("digits", trained=False).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_untrained_copy_is_torch_default_init_from_seed_0():
    from layerscope.zoo.digits import SimpleCNN

    torch.manual_seed(0)
    expected = SimpleCNN().state_dict()
    got = build_builtin("digits", trained=False).state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_every_tensor_differs_between_trained_and_untrained():
    trained = build_builtin("digits").state_dict()
    untrained = build_builtin("digits", trained=False).state_dict()
    assert trained.keys() == untrained.keys()
    assert not any(torch.equal(trained[k], untrained[k]) for k in trained)


@pytest.mark.parametrize("trained", [True, False])
def test_build_leaves_global_rng_alone(trained):
    state = torch.get_rng_state()
    build_builtin("digits", trained=trained)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("trained", [True, False])
def test_built_model_has_the_seed_architecture(trained):
    model = build_builtin("digits", trained=trained)
    assert [n for n, _ in model.named_children()] == ["conv1", "pool", "conv2", "fc1", "fc2", "fc3"]
    assert not model.training
    assert tuple(model(torch.zeros(1, 1, 28, 28)).shape) == (1, 10)


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_trained_kernels_are_smooth_and_untrained_are_not(layer):
    trained = kernel_smoothness(getattr(build_builtin("digits"), layer).weight.detach())
    untrained = kernel_smoothness(getattr(build_builtin("digits", trained=False), layer).weight.detach())
    assert trained > 0.45 and untrained < 0.1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("digit", r"unknown builtin model 'digit'\. Did you mean 'digits'\?"),
        ("Digits", r"unknown builtin model 'Digits'\. Did you mean 'digits'\?"),
        ("builtin:digts", r"unknown builtin model 'digts'\. Did you mean 'digits'\?"),
        ("resnet50", r"unknown builtin model 'resnet50'\. Builtin models: digits, efficientnet_lite0, efficientnet_lite1, efficientnet_lite2 \(use e\.g\. 'builtin:digits'\)"),
    ],
)
def test_unknown_name_says_what_exists(name, message):
    with pytest.raises(ModelSpecError, match=message):
        build_builtin(name)


def test_non_string_name_is_rejected():
    with pytest.raises(ModelSpecError, match="builtin model names are strings like 'digits', got 3"):
        builtin_info(3)


@pytest.fixture()
def shipped_copy(tmp_path, monkeypatch):
    """The zoo's data directory copied to tmp_path and swapped in, so a test may damage its own copy."""
    shutil.copytree(WEIGHTS, tmp_path / "weights")
    monkeypatch.setattr(_registry, "DATA_DIR", tmp_path)
    return tmp_path / "weights"


def test_tampered_weights_are_refused(shipped_copy):
    path = shipped_copy / "digits.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"do not match their sha256 in digits\.json; reinstall layerscope"):
        build_builtin("digits")


def test_missing_weights_are_reported(shipped_copy):
    (shipped_copy / "digits.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"weights of builtin:digits are missing at .*; reinstall"):
        build_builtin("digits")


def test_missing_metadata_is_reported(shipped_copy):
    (shipped_copy / "digits.json").unlink()
    with pytest.raises(CheckpointError, match=r"cannot read the metadata of builtin:digits .*python -m layerscope"):
        builtin_info("digits")


def test_untrained_copy_needs_no_weights_file(shipped_copy):
    (shipped_copy / "digits.safetensors").unlink()
    assert build_builtin("digits", trained=False).conv1.out_channels == 16
