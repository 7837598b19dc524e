"""layerscope: a feature-map microscope for PyTorch.

>>> import torch, layerscope as ls
>>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(inplace=True))
>>> acts = ls.capture(model, torch.rand(1, 3, 32, 32))
>>> list(acts), acts.info["0"].shape
(['0'], (1, 8, 30, 30))

Capture (:func:`capture`, :class:`Recorder`), render (:func:`show` and
:mod:`layerscope.render`), diagnose (:func:`diagnose`); models and images come
from :func:`load_model` and :func:`load_image`; builtin trained models from
:mod:`layerscope.zoo`.
"""

__version__ = "0.1.0"

from . import errors, render, zoo
from .capture import Activations, LayerInfo, Recorder, capture, list_layers, select_layers
from .demo import run_demo
from .diagnose import Diagnosis, Thresholds, diagnose
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
from .io import LoadedImage, LoadedModel, Preprocessing, find_images, load_image, load_images, load_model
from .render import (
    ChannelGrid,
    channel_grid,
    fit_pca_basis,
    overlay,
    pca_rgb,
    progression_strip,
    render_grid,
    save_png,
    shared_range,
    summarize,
    to_maps,
)
from .show import ShowResult, show

__all__ = [
    # capture
    "Activations",
    "LayerInfo",
    "Recorder",
    "capture",
    "list_layers",
    "select_layers",
    # models and images
    "LoadedImage",
    "LoadedModel",
    "Preprocessing",
    "find_images",
    "load_image",
    "load_images",
    "load_model",
    # render
    "ChannelGrid",
    "ShowResult",
    "channel_grid",
    "fit_pca_basis",
    "overlay",
    "pca_rgb",
    "progression_strip",
    "render_grid",
    "save_png",
    "shared_range",
    "show",
    "summarize",
    "to_maps",
    # diagnose
    "Diagnosis",
    "Thresholds",
    "diagnose",
    # errors
    "CheckpointError",
    "ForwardError",
    "ImageError",
    "InputError",
    "LayerNotFoundError",
    "LayerscopeError",
    "LayoutError",
    "MissingDependencyError",
    "ModelSpecError",
    "UnsafeCheckpointError",
    # the rest
    "errors",
    "render",
    "run_demo",
    "zoo",
    "__version__",
]
