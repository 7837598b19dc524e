"""Packages that are also their verb: ``layerscope.capture(...)`` calls, ``layerscope.capture.recorder`` imports.

A top-level function named like its package would shadow it (``layerscope.capture`` the
function hides ``layerscope.capture`` the package, and ``import layerscope.capture.recorder``
then gives an unusable name). Instead the package module itself is made callable: calling
it calls the function, while its submodules stay reachable as attributes.

>>> import layerscope, inspect
>>> callable(layerscope.capture), layerscope.capture.recorder.Recorder is layerscope.Recorder
(True, True)
>>> str(inspect.signature(layerscope.show)).startswith("(model")
True
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

__all__ = ["make_callable"]


class CallableModule(types.ModuleType):
    """A module whose call is its main function (``__wrapped__``, which also gives its signature)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __repr__(self) -> str:
        import inspect

        return f"<module {self.__name__!r}, callable as {self.__wrapped__.__name__}{inspect.signature(self.__wrapped__)}>"


def make_callable(module_name: str, function: Callable[..., Any]) -> types.ModuleType:
    """Make the already imported module ``module_name`` callable as ``function``; returns the module."""
    module = sys.modules[module_name]
    module.__class__ = CallableModule
    module.__wrapped__ = function
    return module
