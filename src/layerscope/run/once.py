"""The one-call entry point: ``layerscope.capture(model, inputs, layers)``.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 3))
>>> acts = capture(model, torch.randn(2, 3, 16, 16))
>>> {name: tuple(t.shape) for name, t in acts.items()}
{'1': (2, 8, 14, 14), '2': (2, 4, 12, 12)}
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from ..capturing.activations import Activations
from ..capturing.call import Args
from ..capturing.recorder import Recorder
from ..capturing.select import LayerSelector
from ..io.feed import Feed
from ..io.resolve import resolve_model

__all__ = ["capture"]


def capture(
    model: Any,
    inputs: Any,
    layers: LayerSelector = None,
    *,
    offload: Any = None,
    dtype: Optional[torch.dtype] = None,
    stop_early: bool = False,
    grad: bool = False,
    preprocessing: Any = None,
) -> Activations:
    """Run ``model`` once on ``inputs`` and return the outputs of the selected ``layers``.

    ``model``: an ``nn.Module``, a spec string (``"torchvision:vgg16"``, ``"builtin:digits"``)
    or a ``LoadedModel``. ``inputs``: a tensor, a tuple (positional) or dict (keyword inputs),
    :class:`~layerscope.Args` (both), or image paths / folders / PIL images, which go through
    the model's preprocessing (a bare module's is assumed: see :mod:`layerscope.io.resolve`;
    ``preprocessing=`` sets it). ``layers``: names, globs, ``re:`` regexes and ``type:``
    selectors (default: the block outputs of token models, else what follows each convolution's
    normalization and activation; ``"convs"``: the raw convolution outputs). The model runs
    in eval mode under ``no_grad``
    (``grad=True`` enables autograd: captures and output stay in the graph); its modes,
    parameters and buffers are left as they were, and no hook outlives the call. See
    :class:`Recorder` for ``offload``, ``dtype`` and ``stop_early`` (and for ``restore_buffers=False``,
    which keeps what the forward wrote into the model's buffers).
    """
    module = model if isinstance(model, torch.nn.Module) and _is_tensor_input(inputs) else None
    if module is None:
        loaded = resolve_model(model, preprocessing=preprocessing)
        module, inputs = loaded.module, Feed(inputs, loaded.preprocessing, strict=True).one()
    with Recorder(module, layers, offload=offload, dtype=dtype, stop_early=stop_early, grad=grad) as recorder:
        return recorder(inputs)


def _is_tensor_input(inputs: Any) -> bool:
    """Inputs of one forward as they are: tensors, arrays, ``Args``, tuples, dicts (the fast path: no model
    resolution at all). Everything else (images, datasets, loaders, iterables, videos) goes through the Feed."""
    return isinstance(inputs, (torch.Tensor, np.ndarray, Args, tuple, dict))
