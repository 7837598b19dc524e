"""Golden PNGs, one helper for every test that has them: a missing reference fails with how to make it;
``LAYERSCOPE_REGEN_GOLDEN=1`` rewrites the references (look at the output first)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerscope.render import save_png

GOLDEN_DIR = Path(__file__).parent / "golden"


def assert_matches_golden(image, name: str) -> None:
    """``image`` (an (H, W, 3) uint8 array, or a ChannelGrid) has the pixels of ``golden/<name>``."""
    path = GOLDEN_DIR / name
    if os.environ.get("LAYERSCOPE_REGEN_GOLDEN") == "1":
        save_png(image, path)  # a ChannelGrid as a palette PNG
    if not path.exists():
        pytest.fail(
            f"Golden image {path} is missing. Look at the output, then create it with "
            f"LAYERSCOPE_REGEN_GOLDEN=1 python -m pytest tests/render"
        )
    array = np.asarray(image)
    with Image.open(path) as golden:
        expected = np.asarray(golden.convert("RGB"))
    assert expected.shape == array.shape, f"shape {array.shape} != golden {expected.shape} ({name})"
    np.testing.assert_array_equal(array, expected, err_msg=f"pixels differ from golden {name}")
