"""layerscope: a feature-map microscope for PyTorch.

>>> import torch, layerscope as ls
>>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(inplace=True))
>>> acts = ls.capture(model, torch.rand(1, 3, 32, 32))
>>> list(acts), tuple(acts["0"].shape), acts.protected
(['0'], (1, 8, 30, 30), frozenset({'0'}))

Capture (:func:`capture`, :class:`Recorder`), render (:func:`show` and
:mod:`layerscope.render`), diagnose (:func:`diagnose`); models and images come
from :func:`load_model` and :func:`load_image`; builtin trained models from
:mod:`layerscope.zoo`. ``layerscope.capture``, ``layerscope.show`` and
``layerscope.diagnose`` are packages you can call: ``ls.capture(model, x)`` runs the
capture, ``import layerscope.capture.recorder`` reaches its parts.
"""

__version__ = "0.1.0"

from . import capture as _capture_package
from . import diagnose as _diagnose_package
from . import errors, io, render, show as _show_package, zoo
from ._callable import make_callable as _make_callable
from .capture import Activations, Args, LayerInfo, Recorder, list_layers
from .explain import importance, visualize
from .errors import (
    CheckpointError,
    ForwardError,
    ImageError,
    InputError,
    LayerNotFoundError,
    LayerscopeError,
    LayoutError,
    MissingDependencyError,
    ModelSpecError,
    UnsafeCheckpointError,
)
from .io import LoadedModel, Preprocessing, load_image, load_model

capture = _make_callable(_capture_package.__name__, _capture_package.capture)
diagnose = _make_callable(_diagnose_package.__name__, _diagnose_package.diagnose)
show = _make_callable(_show_package.__name__, _show_package.show)
del _capture_package, _diagnose_package, _show_package

__all__ = [
    # capture
    "capture",
    "Recorder",
    "Activations",
    "LayerInfo",
    "Args",
    "list_layers",
    # see and judge
    "show",
    "diagnose",
    "visualize",
    "importance",
    # models and images
    "load_model",
    "LoadedModel",
    "Preprocessing",
    "load_image",
    # errors
    "LayerscopeError",
    "CheckpointError",
    "ForwardError",
    "ImageError",
    "InputError",
    "LayerNotFoundError",
    "LayoutError",
    "MissingDependencyError",
    "ModelSpecError",
    "UnsafeCheckpointError",
    # subpackages
    "errors",
    "io",
    "render",
    "zoo",
    "__version__",
]
