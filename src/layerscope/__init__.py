"""layerscope: a feature-map microscope for PyTorch.

>>> import torch, layerscope as ls
>>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(inplace=True))
>>> acts = ls.capture(model, torch.rand(1, 3, 32, 32))
>>> list(acts), tuple(acts["0"].shape), acts.protected
(['0'], (1, 8, 30, 30), frozenset({'0'}))

Capture (:func:`capture`, :class:`Recorder`), render (:func:`show` and
:mod:`layerscope.render`), diagnose (:func:`diagnose`), scan whole datasets (:func:`scan`,
:func:`load_stats`), compare two models or checkpoints (:func:`compare`) and browse feature maps in
a notebook (:func:`browse`); one HTML file of it all from
:func:`report`; models and images come from :func:`load_model` and :func:`load_image`;
builtin trained models from :mod:`layerscope.zoo`; feature maps logged while a model trains by
:mod:`layerscope.train`. ``layerscope.capture``, ``layerscope.show``, ``layerscope.diagnose``,
``layerscope.scan``, ``layerscope.compare``, ``layerscope.browse`` and ``layerscope.report`` are packages you can call:
``ls.capture(model, x)`` runs the capture, ``import layerscope.capture.recorder`` reaches its parts.
"""

__version__ = "0.1.0"

from . import browse as _browse_package
from . import capture as _capture_package
from . import compare as _compare_package
from . import diagnose as _diagnose_package
from . import report as _report_package
from . import scan as _scan_package
from . import errors, io, render, show as _show_package, train, zoo
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

browse = _make_callable(_browse_package.__name__, _browse_package.browse)
capture = _make_callable(_capture_package.__name__, _capture_package.capture)
compare = _make_callable(_compare_package.__name__, _compare_package.compare)
diagnose = _make_callable(_diagnose_package.__name__, _diagnose_package.diagnose)
show = _make_callable(_show_package.__name__, _show_package.show)
scan = _make_callable(_scan_package.__name__, _scan_package.scan)
load_stats = _scan_package.load_stats
report = _make_callable(_report_package.__name__, _report_package.report)
del _browse_package, _capture_package, _compare_package, _diagnose_package, _show_package, _scan_package, _report_package

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
    "report",
    # whole datasets
    "scan",
    "load_stats",
    # change
    "compare",
    "browse",
    # explain
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
    "train",
    "zoo",
    "__version__",
]
