"""Palettes: matplotlib's colours at 252 levels plus the reserved colours; name checks with suggestions."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from layerscope.errors import InputError
from layerscope.render.colormap import BACKGROUND, FRAME, LEVELS, NONFINITE, TEXT, palette, resolve_cmap


@pytest.mark.parametrize("name", ["viridis", "gray", "RdBu_r", "magma"])
def test_levels_are_matplotlib_colours(name):
    want = matplotlib.colormaps[name](np.linspace(0, 1, LEVELS))[:, :3] * 255
    np.testing.assert_allclose(palette(name)[:LEVELS], want, atol=0.5)


def test_reserved_colours_are_fixed():
    table = palette("gray")
    assert [table[i].tolist() for i in (NONFINITE, BACKGROUND, TEXT, FRAME)] == [
        [255, 0, 255], [255, 255, 255], [0, 0, 0], [150, 150, 150]
    ]


def test_palette_is_cached_and_read_only():
    assert palette("viridis") is palette("viridis")
    with pytest.raises(ValueError):
        palette("viridis")[0, 0] = 1


def test_unknown_name_suggests_close_matches():
    with pytest.raises(InputError, match=r"Unknown colormap 'virdis'. Did you mean 'viridis'"):
        palette("virdis")


def test_default_depends_on_signedness():
    assert (resolve_cmap(None), resolve_cmap(None, signed=True)) == ("viridis", "RdBu_r")
