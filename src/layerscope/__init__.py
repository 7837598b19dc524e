"""layerscope: a feature-map microscope for PyTorch.

>>> import torch, layerscope as ls
>>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(inplace=True))
>>> acts = ls.capture(model, torch.rand(1, 3, 32, 32))  # the default layers: what follows each conv
>>> list(acts), tuple(acts["1"].shape)
(['1'], (1, 8, 30, 30))
>>> ls.capture(model, torch.rand(1, 3, 32, 32), "convs").protected  # the raw conv, kept from the in-place ReLU
frozenset({'0'})

Capture (:func:`capture`, :class:`Recorder`), render (:func:`show` and
:mod:`layerscope.render`), diagnose (:func:`diagnose`), scan whole datasets (:func:`scan`,
:func:`load_stats`; store their activations: :func:`dump`, :func:`load_activations`), compare two models or checkpoints (:func:`compare`) and browse feature maps in
a notebook (:func:`browse`); one HTML file of it all from
:func:`report`; models and images come from :func:`load_model` and :func:`load_image`;
builtin trained models from :mod:`layerscope.zoo`; feature maps logged while a model trains by
:mod:`layerscope.train`. ``layerscope.capture``, ``layerscope.show``, ``layerscope.diagnose``,
``layerscope.scan``, ``layerscope.compare``, ``layerscope.browse`` and ``layerscope.report`` are packages you can call:
``ls.capture(model, x)`` runs the capture, ``import layerscope.capturing.recorder`` reaches its parts.
"""

from ._version import __version__
from . import errors, io, render, train, zoo
from .capturing import Activations, Args, LayerInfo, Recorder, list_layers
from .run import capture
from .comparison import compare
from .diagnosis import diagnose
from .display import browse
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
from .explain import channel_labels, importance, visualize
from .io import LoadedModel, Preprocessing, load_image, load_model
from .probing import probe
from .reporting import report
from .scanning import load_stats, scan
from .showing import show
from .storing import dump, load_activations

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
    "dump",
    "load_activations",
    "probe",
    # change
    "compare",
    "browse",
    # explain
    "visualize",
    "importance",
    "channel_labels",
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
