"""How layerscope calls a model: positional and keyword inputs, moved to the model's device.

>>> import torch, torch.nn as nn
>>> class Masked(nn.Module):
...     def forward(self, x, mask=None):
...         return x if mask is None else x * mask
>>> call_model(Masked(), Args(torch.ones(2), mask=torch.tensor([0.0, 1.0])))
tensor([0., 1.])
>>> Args(torch.ones(3, 4), mask=None).batch_size
3

Inputs everywhere in layerscope follow one rule: a :class:`Args` is unpacked into
positional and keyword arguments (``model(*args, **kwargs)``), a plain tuple into
positional ones, a dict into keyword ones, anything else is the one positional input.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn

from ..errors import ForwardError, InputError, LayerscopeError

__all__ = ["Args", "call_model", "move_inputs", "model_device", "device_of", "batch_size_of", "image_size_of",
           "describe_inputs"]


class Args:
    """Positional and keyword inputs of one forward: ``Args(input_ids, attention_mask=mask)``.

    Use it wherever layerscope takes model inputs (``capture``, ``Recorder``, ``list_layers``,
    ``diagnose``) when the forward needs both kinds, e.g. Hugging Face style models.
    """

    __slots__ = ("args", "kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def map(self, fn) -> "Args":
        """A new ``Args`` with ``fn`` applied to every argument."""
        return Args(*(fn(a) for a in self.args), **{k: fn(v) for k, v in self.kwargs.items()})

    def values(self) -> list[Any]:
        return [*self.args, *self.kwargs.values()]

    @property
    def batch_size(self) -> Optional[int]:
        """Size of dim 0 of the first tensor argument (None when there is none)."""
        return batch_size_of(self)

    def __repr__(self) -> str:
        parts = [describe_inputs(a) for a in self.args] + [f"{k}={describe_inputs(v)}" for k, v in self.kwargs.items()]
        return f"Args({', '.join(parts)})"


def _is_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and not hasattr(value, "_fields")


def model_device(model: nn.Module) -> tuple[torch.device, Optional[torch.dtype]]:
    """Device and floating dtype of the first parameter (or buffer); CPU and None if there is none."""
    return device_of((model.parameters(), model.buffers())) or (torch.device("cpu"), None)


def device_of(groups: Any) -> Optional[tuple[torch.device, Optional[torch.dtype]]]:
    """Device and floating dtype of the first tensor of the first non-empty group, or None."""
    for tensors in groups:
        for tensor in tensors:
            return tensor.device, tensor.dtype if tensor.is_floating_point() else None
    return None


def move_inputs(value: Any, device: torch.device, dtype: Optional[torch.dtype]) -> Any:
    """Tensors (numpy arrays made tensors) moved to ``device``, floating ones cast to ``dtype``; containers kept."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, torch.Tensor):
        cast = dtype if dtype is not None and value.is_floating_point() else None
        return value.to(device=device, dtype=cast)
    if isinstance(value, Args):
        return value.map(lambda v: move_inputs(v, device, dtype))
    if isinstance(value, dict):
        return {k: move_inputs(v, device, dtype) for k, v in value.items()}
    if isinstance(value, list) or _is_tuple(value):
        return type(value)(move_inputs(v, device, dtype) for v in value)
    return value


def batch_size_of(value: Any) -> Optional[int]:
    """Dim 0 of the first tensor found in ``value`` (Args, tuple, list, dict or tensor), else None.

    >>> batch_size_of({"ids": torch.zeros(5, 7)}), batch_size_of("text")
    (5, None)
    """
    return _first(value, lambda t: int(t.shape[0]) if t.ndim else None)


def image_size_of(value: Any) -> Optional[tuple[int, int]]:
    """(H, W) of the first image batch ``(N, C, H, W)`` found in ``value`` (Args, tuple, list, dict or tensor).

    >>> image_size_of(torch.zeros(2, 3, 32, 48)), image_size_of({"pixel_values": torch.zeros(1, 3, 8, 8)})
    ((32, 48), (8, 8))
    >>> image_size_of(torch.zeros(2, 16)) is None
    True
    """
    return _first(value, lambda t: (int(t.shape[-2]), int(t.shape[-1])) if t.ndim == 4 else None)


def _first(value: Any, pick) -> Any:
    """``pick`` of the first tensor or array in ``value`` (depth first) for which it is not None."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return pick(value)
    items = value.values() if isinstance(value, (Args, dict)) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found = _first(item, pick)
        if found is not None:
            return found
    return None


def describe_inputs(value: Any) -> str:
    """A short description of model inputs for error messages: shapes and dtypes, not values."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}, dtype {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, Args):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe_inputs(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(describe_inputs(v) for v in value) + ")"
    return type(value).__name__


_NEEDS_AUTOGRAD = re.compile(r"does not require grad|grad_fn|differentiated Tensors|requires_grad", re.I)


def _forward_error(err: Exception, inputs: Any, grad: bool) -> ForwardError:
    where = f"The model's forward raised {type(err).__name__} on the input ({describe_inputs(inputs)}): {err}."
    if not grad and _NEEDS_AUTOGRAD.search(str(err)):
        return ForwardError(
            f"{where} The forward seems to need autograd, which capture turns off (it runs the model under "
            "torch.no_grad()). Pass grad=True to capture with autograd enabled."
        )
    return ForwardError(
        f"{where} Check the input's size, channels and batch dimension (CLI: --size / --grayscale; "
        "Python: the model's preprocessing, e.g. layerscope.load_model(spec).preprocess). "
        "Inputs: a tensor, a tuple (positional), a dict (keywords) or layerscope.Args(*args, **kwargs)."
    )


def call_model(model: nn.Module, inputs: Any, *, grad: bool = False) -> Any:
    """Call ``model`` on ``inputs`` by the rule above (``Args``, tuple, dict or one input).

    An exception from the model's forward becomes a :class:`ForwardError` naming the input and the fix.
    """
    try:
        if isinstance(inputs, Args):
            return model(*inputs.args, **inputs.kwargs)
        if isinstance(inputs, dict):
            return model(**inputs)
        if _is_tuple(inputs):
            return model(*inputs)
        return model(inputs)
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as err:
        if isinstance(err, LayerscopeError):
            raise
        raise _forward_error(err, inputs, grad) from err


def check_device(value: Any) -> Optional[torch.device]:
    """``value`` as a torch device (None stays None); anything else is an :class:`InputError`."""
    if value is None:
        return None
    try:
        return torch.device(value)
    except (RuntimeError, TypeError):
        raise InputError(f"offload={value!r} is not a torch device; use e.g. 'cpu' or 'cuda:0'.") from None


def check_dtype(value: Any) -> Optional[torch.dtype]:
    """``value`` (a torch dtype or its name) as a torch dtype; anything else is an :class:`InputError`."""
    if value is None or isinstance(value, torch.dtype):
        return value
    candidate = getattr(torch, str(value).replace("torch.", ""), None)
    if isinstance(candidate, torch.dtype):
        return candidate
    raise InputError(f"dtype={value!r} is not a torch dtype; use e.g. torch.float16 or 'float16'.")
