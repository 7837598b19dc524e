"""The ``>>>`` examples in the render-core modules and layerscope.show run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "layerscope.render",
    "layerscope.render._kernels",
    "layerscope.render.channels",
    "layerscope.render.colormap",
    "layerscope.render.font",
    "layerscope.render.grid",
    "layerscope.render.normalize",
    "layerscope.render.options",
    "layerscope.render.png",
    "layerscope.render.strips",
    "layerscope.showing.api",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
