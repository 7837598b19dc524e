"""Tensor coercion shared by the layout inference and the renderers (neither imports the other for it).

>>> import numpy as np
>>> as_tensor(np.zeros((2, 3), np.float32)).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..errors import InputError

__all__ = ["as_tensor", "first_field"]


def as_tensor(value: Any, what: str = "maps") -> torch.Tensor:
    """A detached tensor view of a tensor or numpy array (never a copy that the caller could confuse).

    >>> as_tensor([1, 2], "heat")
    Traceback (most recent call last):
    ...
    layerscope.errors.InputError: Expected heat as a torch.Tensor or numpy array, got list.
    """
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return torch.from_numpy(array if array.flags.writeable else array.copy())
    raise InputError(f"Expected {what} as a torch.Tensor or numpy array, got {type(value).__name__}.")


def first_field(value: Any, *names: str) -> Any:
    """The first of ``names`` that ``value`` has that is not None: a key of a mapping (a model's dict
    output), else an attribute (a Hugging Face ``ModelOutput``, a config, an info object); else None.

    >>> first_field({"logits": None, "out": 1}, "logits", "out"), first_field(object(), "logits")
    (1, None)
    """
    for name in names:
        found = value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
        if found is not None:
            return found
    return None
