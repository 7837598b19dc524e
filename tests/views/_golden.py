"""Golden PNG comparison: a missing reference fails; LAYERSCOPE_REGEN_GOLDEN=1 rewrites the references."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN_DIR = Path(__file__).parent / "golden"


def assert_matches_golden(array: np.ndarray, name: str) -> None:
    path = GOLDEN_DIR / name
    if os.environ.get("LAYERSCOPE_REGEN_GOLDEN") == "1":
        Image.fromarray(array).save(path)
    if not path.exists():
        pytest.fail(
            f"Golden image {path} is missing. Look at the output, then create it with "
            f"LAYERSCOPE_REGEN_GOLDEN=1 python -m pytest tests/views"
        )
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert expected.shape == array.shape, f"shape {array.shape} != golden {expected.shape} ({name})"
    np.testing.assert_array_equal(array, expected, err_msg=f"pixels differ from golden {name}")
