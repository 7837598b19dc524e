"""The training script end to end in quick mode (one epoch on 200 images), in-process and via ``-m``."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from layerscope.errors import InputError
from layerscope.zoo import _registry, train
from layerscope.zoo.digits import SimpleCNN


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    code = train.main(["digits", "--epochs", "1", "--limit", "200", "--out", str(out), "--samples-out", str(out)])
    return code, out


def test_quick_run_succeeds(quick_run):
    code, out = quick_run
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["digits.json", "digits.npz", "digits.safetensors"]


def test_quick_run_weights_load_strictly(quick_run):
    model = SimpleCNN()
    model.load_state_dict(load_file(str(quick_run[1] / "digits.safetensors")), strict=True)
    assert tuple(model(torch.zeros(1, 1, 28, 28)).shape) == (1, 10)


def test_quick_run_metadata(quick_run):
    out = quick_run[1]
    meta = json.loads((out / "digits.json").read_text())
    assert meta["sha256"] == hashlib.sha256((out / "digits.safetensors").read_bytes()).hexdigest()
    assert (meta["epochs"], meta["limit"], meta["train_count"], meta["held_out_count"]) == (1, 200, 200, 360)
    assert meta["preprocessing"]["mean"] == [0.5] and meta["preprocessing"]["input_size"] == [28, 28]
    assert meta["held_out_correct"] == round(meta["held_out_accuracy"] * 360)
    assert {"torch", "numpy", "sklearn"} <= set(meta["versions"]) and meta["date"]


def test_training_is_byte_reproducible(quick_run, tmp_path):
    train.main(["digits", "--epochs", "1", "--limit", "200", "--out", str(tmp_path)])
    first = json.loads((quick_run[1] / "digits.json").read_text())["sha256"]
    assert json.loads((tmp_path / "digits.json").read_text())["sha256"] == first


def test_quick_run_samples_equal_the_shipped_ones(quick_run):
    shipped_path = _registry.DATA_DIR / "samples" / "digits.npz"
    with np.load(quick_run[1] / "digits.npz") as made, np.load(shipped_path) as shipped:
        assert made.files == shipped.files
        for key in made.files:
            np.testing.assert_array_equal(made[key], shipped[key])


def test_thread_count_is_restored(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train.main(["digits", "--epochs", "1", "--limit", "8", "--threads", "1", "--out", str(tmp_path)])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "digits.json").write_text("mine")
    with pytest.raises(InputError, match=r"refusing to overwrite .*digits\.json; .*--overwrite"):
        train.main(["digits", "--epochs", "1", "--limit", "8", "--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.json"]
    assert (tmp_path / "digits.json").read_text() == "mine"


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--limit", "0"], ["--threads", "0"]])
def test_rejects_non_positive_numbers(tmp_path, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["digits", "--out", str(tmp_path), *option])
    assert exit_info.value.code == 2
    assert "--epochs, --limit and --threads must be >= 1" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    command = [sys.executable, "-m", "layerscope.zoo.train", "digits", "--epochs", "1", "--limit", "16",
               "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "held-out accuracy" in done.stdout and (tmp_path / "digits.safetensors").is_file()


def test_pick_samples_literal():
    assert train.pick_samples(np.array([2, 1, 0, 0, 2, 1, 1]), per_class=2).tolist() == [2, 1, 0, 3, 5, 4]


def test_augment_keeps_shape_range_and_is_seeded():
    pixels = torch.rand(4, 1, 28, 28)
    first = train.augment(pixels, torch.Generator().manual_seed(3))
    second = train.augment(pixels, torch.Generator().manual_seed(3))
    assert first.shape == pixels.shape and torch.equal(first, second)
    assert first.min() >= 0 and first.max() <= 1 and not torch.equal(first, pixels)
