"""RenderOptions: validated once, defaults resolved from the mode, hashable, one rule for options + keywords."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from layerscope.errors import InputError
from layerscope.render import MODES, RenderOptions, render_grid, render_grids
from layerscope.render.normalize import mode_info
from layerscope.render.options import LayerRanges

from .models import conv_maps


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"normalize": "chanel"}, "Unknown normalization 'chanel'. Did you mean 'channel'"),
        ({"normalize": "robust", "percentiles": (99, 1)}, "percentiles must be two numbers 0 <= low < high <= 100"),
        ({"value_range": (0.0, 1.0)}, r"A value range \(\(0.0, 1.0\)\) applies only to normalize='global'"),
        ({"normalize": "global", "value_range": (3, 1)}, "value_range must be finite"),
        ({"normalize": "global", "value_range": {"conv": (0, float("inf"))}}, "value_range must be finite"),
        ({"normalize": "global", "value_range": (1, 2, 3)}, "value_range must be finite"),
        ({"cmap": "virdis"}, "Unknown colormap 'virdis'. Did you mean 'viridis'"),
        ({"order": "size"}, "Unknown channel order 'size'"),
        ({"max_channels": -1}, "max_channels must be a positive int"),
        ({"scale": 0}, "scale must be an int >= 1"),
        ({"padding": -2}, "padding must be an int >= 0"),
        ({"columns": 0}, "columns must be an int >= 1"),
        ({"scale": True}, "scale must be an int >= 1, got True"),
    ],
)
def test_bad_fields_are_refused_when_made(fields, match):
    with pytest.raises(InputError, match=match):
        RenderOptions(**fields)


def test_defaults_are_resolved_from_the_mode():
    assert RenderOptions().cmap == "viridis" and RenderOptions().percentiles is None
    assert RenderOptions(normalize="signed-layer").cmap == "RdBu_r"
    assert RenderOptions(normalize="robust-layer").percentiles == (1.0, 99.0)
    assert RenderOptions(normalize="robust", percentiles=[5, 95]).percentiles == (5.0, 95.0)


def test_replace_validates_again_and_a_default_colormap_follows_the_mode():
    options = RenderOptions(scale=2)
    assert options.replace(normalize="signed").cmap == "RdBu_r"
    assert RenderOptions(cmap="magma").replace(normalize="signed").cmap == "magma"  # chosen: kept
    assert options.replace(order="std") == RenderOptions(scale=2, order="std")
    with pytest.raises(InputError, match="scale must be an int >= 1"):
        options.replace(scale=0)
    with pytest.raises(InputError, match="Unknown render option 'max_channel'. Did you mean 'max_channels'"):
        options.replace(max_channel=3)


def test_options_are_frozen_hashable_and_compare_by_value():
    a = RenderOptions(normalize="global", value_range={"conv": (0, 1)})
    b = RenderOptions(normalize="global", value_range={"conv": (0.0, 1.0)})
    assert a == b and hash(a) == hash(b) and len({a, b, RenderOptions()}) == 2
    with pytest.raises(AttributeError):
        a.scale = 3  # type: ignore[misc]


def test_value_range_is_a_pair_or_a_mapping_of_layers():
    pair = RenderOptions(normalize="global", value_range=[-1, 1])
    assert pair.value_range == (-1.0, 1.0) and pair.range_for("any") == (-1.0, 1.0)
    per_layer = RenderOptions(normalize="global", value_range={"a": (0, 2)})
    assert isinstance(per_layer.value_range, LayerRanges) and dict(per_layer.value_range) == {"a": (0.0, 2.0)}
    assert per_layer.range_for("a") == (0.0, 2.0) and per_layer.range_for("b") is None


def test_to_dict_is_plain_json_with_every_field():
    options = RenderOptions(normalize="global", value_range={"conv": (0, 2)}, caption="mine", columns=3)
    data = options.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["value_range"] == {"conv": [0.0, 2.0]} and data["cmap"] == "viridis" and data["columns"] == 3
    assert set(data) == {"normalize", "percentiles", "value_range", "cmap", "max_channels", "order", "labels",
                         "caption", "colorbar", "scale", "min_tile", "padding", "columns", "channels"}


def test_channels_are_validated_when_made():
    assert RenderOptions(channels=[4, 1]).channels == (4, 1)
    with pytest.raises(InputError, match=r"channels must be a non-empty list of channel indices \(ints >= 0\), got \[-1\]"):
        RenderOptions(channels=[-1])


def test_of_combines_options_and_keywords_keywords_win():
    base = RenderOptions(normalize="layer", scale=3)
    assert RenderOptions.of(base) is base
    assert RenderOptions.of(base, scale=1) == RenderOptions(normalize="layer")
    assert RenderOptions.of(None, order="max") == RenderOptions(order="max")
    with pytest.raises(InputError, match="options must be a RenderOptions, got dict"):
        RenderOptions.of({"scale": 2})  # type: ignore[arg-type]


def test_from_flags_keeps_the_base_for_flags_left_out():
    base = RenderOptions(max_channels=64, caption=True)
    flags = argparse.Namespace(out="maps", normalize="robust", percentiles=(2.0, 98.0), labels=True)
    options = RenderOptions.from_flags(flags, base)
    assert options == base.replace(normalize="robust", percentiles=(2.0, 98.0), labels=True)


def test_options_and_keywords_render_the_same_grid():
    options = RenderOptions(normalize="robust", order="std", max_channels=3, labels=True, scale=2)
    by_options = render_grid(conv_maps(), options, layer="conv")
    by_keywords = render_grid(conv_maps(), normalize="robust", order="std", max_channels=3, labels=True, scale=2,
                              layer="conv")
    mixed = render_grid(conv_maps(), options.replace(scale=1), scale=2, layer="conv")
    for grid in (by_keywords, mixed):
        np.testing.assert_array_equal(grid.indices, by_options.indices)
        assert grid.meta == by_options.meta


def test_a_mapping_of_ranges_applies_to_the_named_layer():
    maps = conv_maps()[None]
    options = RenderOptions(normalize="global", value_range={"conv": (0.0, 8.0)})
    (grid,) = render_grids(maps, options, layer="conv")
    (other,) = render_grids(maps, options, layer="other")  # not in the mapping: the batch's own min-max
    assert grid.meta.normalization.vmax == (8.0,)
    assert other.meta.normalization.vmax == (float(maps.max()),)


@pytest.mark.parametrize("mode", MODES)
def test_one_table_describes_every_mode(mode):
    info = mode_info(mode)
    assert info.name == mode and info.scope in ("channel", "layer", "global")
    assert info.signed == mode.startswith("signed") and info.robust == mode.startswith("robust")
    assert RenderOptions(normalize=mode).cmap == ("RdBu_r" if info.signed else "viridis")
