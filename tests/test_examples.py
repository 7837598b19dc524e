"""The runnable examples (the seed tutorials as layerscope scripts) run offline."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_simplecnn_digits_example(tmp_path):
    done = _run([str(EXAMPLES / "seed_simplecnn_digits.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "conv1  Conv2d             (8, 16, 24, 24)" in done.stdout
    assert "looks trained" in done.stdout
    assert len(list((tmp_path / "digit-maps").rglob("*.png"))) == 16


def test_vgg16_hooks_example_random_init(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(tmp_path / "cat.jpg")
    done = _run([str(EXAMPLES / "seed_vgg16_hooks.py"), "cat.jpg"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "conv4_1 features.17 (1, 512, 28, 28)" in done.stdout
    assert "ImageNet" in done.stdout  # the preprocessing is printed
    assert len(list((tmp_path / "vgg16-maps").rglob("*.png"))) == 4


def test_training_example_logs_compares_and_sees_the_tendency_flip(tmp_path):
    done = _run([str(EXAMPLES / "train_digits_monitor.py"), "--epochs", "3"], tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ") and "epoch" not in line]
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3]
    assert rows[0][8].strip() == "untrained" and rows[-1][8].strip() == "trained"
    cka_fc1 = [float(r[4]) for r in rows]
    assert cka_fc1[0] < 0.9 and cka_fc1[-1] == 1.0 and cka_fc1 == sorted(cka_fc1)  # rising to the final model
    assert float(rows[-1][7]) < float(rows[0][7]) / 2  # conv1's maps: noise score at least halved
    pictures = sorted(p.name for p in (tmp_path / "train-digits" / "pictures").iterdir())
    assert pictures == ["cka_per_epoch.png", "conv1_maps_per_epoch.png", "conv1_untrained_vs_trained.png"]
    assert (tmp_path / "train-digits" / "monitor" / "metrics.jsonl").is_file()
    again = _run([str(EXAMPLES / "train_digits_monitor.py"), "--epochs", "1"], tmp_path)  # re-runnable
    assert again.returncode == 0, again.stderr
