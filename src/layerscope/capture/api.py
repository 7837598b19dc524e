"""The one-call entry point: ``layerscope.capture(model, inputs, layers)``.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 3))
>>> acts = capture(model, torch.randn(2, 3, 16, 16))
>>> {name: tuple(t.shape) for name, t in acts.items()}
{'0': (2, 8, 14, 14), '2': (2, 4, 12, 12)}
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch
import torch.nn as nn

from ..errors import InputError
from .activations import Activations
from .recorder import Recorder
from .select import LayerSelector

__all__ = ["capture", "resolve_model", "resolve_inputs"]


def _is_image_like(value: Any) -> bool:
    if isinstance(value, (str, os.PathLike)):
        return True
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def resolve_model(model: Any) -> tuple[nn.Module, Any]:
    """``(module, loaded)`` for an ``nn.Module``, a spec string or a ``LoadedModel`` (else ``loaded`` is None)."""
    if isinstance(model, nn.Module):
        return model, None
    if isinstance(model, str):
        from ..io import load_model

        loaded = load_model(model)
        return loaded.module, loaded
    module = getattr(model, "module", None)
    if isinstance(module, nn.Module) and hasattr(model, "preprocess"):
        return module, model
    raise InputError(
        f"Expected an nn.Module, a model spec such as 'torchvision:resnet18', or a LoadedModel; "
        f"got {type(model).__name__}."
    )


def resolve_inputs(inputs: Any, loaded: Any) -> Any:
    """Tensors pass through; image paths / PIL images are preprocessed with the model's preprocessing."""
    items = inputs if isinstance(inputs, list) else [inputs]
    if items and all(_is_image_like(item) for item in items):
        if loaded is None:
            raise InputError(
                "Images were given but the model has no known preprocessing. Load it with "
                "layerscope.load_model(spec) (or pass the spec string), or pass a preprocessed tensor."
            )
        return loaded.preprocess(inputs)
    return inputs


def capture(
    model: Any,
    inputs: Any,
    layers: LayerSelector = None,
    *,
    offload: Any = None,
    dtype: Optional[torch.dtype] = None,
    stop_early: bool = False,
) -> Activations:
    """Run ``model`` once on ``inputs`` and return the outputs of the selected ``layers``.

    ``model`` is an ``nn.Module``, a spec string (``"torchvision:vgg16"``,
    ``"builtin:digits"``) or a ``LoadedModel``; ``inputs`` a tensor (or a tuple
    of positional / dict of keyword inputs), or image paths / PIL images when
    the model's preprocessing is known. ``layers`` accepts names, globs,
    ``re:`` regexes and ``type:`` selectors (default: every convolution).
    The model is run in eval mode under ``no_grad``; its modes, parameters
    and buffers are left exactly as they were, and no hook outlives the call.
    See :class:`Recorder` for ``offload``, ``dtype`` and ``stop_early``.
    """
    module, loaded = resolve_model(model)
    inputs = resolve_inputs(inputs, loaded)
    with Recorder(module, layers, offload=offload, dtype=dtype, stop_early=stop_early) as recorder:
        return recorder(inputs)
