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
