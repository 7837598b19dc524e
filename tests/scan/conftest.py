"""Shared by the scan tests that run real processes: a folder of photos (random pixels, one broken file)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

IMAGES = 26  # readable ones; one more is broken
SCAN_MODEL = ["torchvision:resnet18", "--size", "32"]  # a real architecture (seeded random init), small inputs
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # steady timing on a busy machine; results do not depend on it


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scan") / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(IMAGES):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"p{i:03d}.png")
    (folder / "p007_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")  # skipped, listed, counted
    return folder
