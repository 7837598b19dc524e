"""One way in for models: a spec string, a :class:`LoadedModel` or an ``nn.Module`` become a LoadedModel.

>>> import torch.nn as nn
>>> loaded = resolve_model(nn.Sequential(nn.Conv2d(3, 8, 3)))
>>> loaded.preprocessing.input_size, assumed_preprocessing(loaded)
((224, 224), True)
>>> resolve_model("builtin:digits").preprocessing.input_size
(28, 28)

Every entry point (``capture``, ``show``, ``diagnose``, ``list_layers`` from the CLI, the
dataset scan) resolves its model here and its inputs with :class:`~layerscope.io.feed.Feed`.

**The rule for a bare** ``nn.Module`` (and for ``package.module:factory`` specs), which
carries no preprocessing metadata: images given to it are preprocessed like ImageNet
models (shorter side resized to 256, center crop 224x224, ImageNet mean and std; a model
whose first convolution takes 1 channel gets grayscale input with the averaged mean and
std). This assumption is printed and recorded as the preprocessing's ``source``; the
input checks of ``diagnose`` never call an input wrong for differing from an assumed
preprocessing. Give the real one with ``preprocessing=Preprocessing(...)`` or
``load_model(module).with_preprocessing(size=..., mean=..., std=...)`` (CLI: ``--size``,
``--mean``, ``--std``, ``--grayscale``). Tensors are never preprocessed.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

import torch.nn as nn

from ..errors import InputError
from .models import LoadedModel, load_model
from .preprocess import Preprocessing

__all__ = ["resolve_model", "assumed_preprocessing", "ASSUMED"]

ASSUMED = "no preprocessing metadata"  # in the source of a preprocessing that is only the bare-module rule


def resolve_model(model: Any, *, preprocessing: Optional[Preprocessing] = None) -> LoadedModel:
    """The :class:`LoadedModel` for ``model``; ``preprocessing`` replaces the one it comes with.

    Specs are built by :func:`~layerscope.io.load_model` (weights downloaded only for
    ``:DEFAULT``/``:pretrained`` specs); a module is wrapped as it is (not copied, mode kept).
    """
    if isinstance(model, LoadedModel):
        loaded = model
    elif isinstance(model, (str, os.PathLike, nn.Module)):
        loaded = load_model(model)
    else:
        raise InputError(
            f"Expected an nn.Module, a model spec such as 'torchvision:resnet18', or a LoadedModel; "
            f"got {type(model).__name__}."
        )
    if preprocessing is None:
        return loaded
    if not isinstance(preprocessing, Preprocessing):
        raise InputError(
            f"preprocessing= must be a layerscope.Preprocessing, got {type(preprocessing).__name__}; "
            "e.g. Preprocessing(resize=32, crop=(28, 28), mean=(0.5,), std=(0.5,), channels=1)."
        )
    overrides = {**loaded.overrides, "preprocessing": preprocessing}
    return dataclasses.replace(loaded, preprocessing=preprocessing, overrides=overrides)


def assumed_preprocessing(loaded: LoadedModel) -> bool:
    """True when the model's own preprocessing is only the bare-module rule, not known metadata."""
    return ASSUMED in loaded.native_preprocessing.source
