"""Shared fixture: a real photo (scikit-image's bundled cat, 451x300)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def cat() -> Image.Image:
    """A real, non-square RGB photo that ships with scikit-image (no download)."""
    data = pytest.importorskip("skimage.data")
    return Image.fromarray(np.asarray(data.chelsea()))
