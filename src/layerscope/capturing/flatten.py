"""Flatten a module's output (tensor, tuple, dict, namedtuple, dataclass) into named tensor leaves.

>>> import torch
>>> leaves, skipped = flatten_output({"logits": torch.zeros(1), "aux": (torch.ones(2), "note")})
>>> [name for name, _ in leaves], skipped
([':logits', ':aux:0'], [':aux:1'])

Output paths use ``:`` (``block:0``, ``head:logits``), never ``.``: a dotted suffix could
equal the name of a child module (``0.0`` is both "output 0 of module 0" and "module
0.0" in ``Sequential(Sequential(...))``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["flatten_output"]


def _walk(value: Any, path: str, leaves: list, skipped: list, depth: int) -> None:
    if value is None:
        return
    if isinstance(value, torch.Tensor):
        leaves.append((path, value))
    elif depth > 8:
        skipped.append(path)
    elif isinstance(value, Mapping):  # dict, OrderedDict, HF ModelOutput
        for key, item in value.items():
            _walk(item, f"{path}:{key}", leaves, skipped, depth + 1)
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        for key in value._fields:
            _walk(getattr(value, key), f"{path}:{key}", leaves, skipped, depth + 1)
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            _walk(item, f"{path}:{index}", leaves, skipped, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _walk(getattr(value, field.name), f"{path}:{field.name}", leaves, skipped, depth + 1)
    else:
        skipped.append(path)


def flatten_output(output: Any) -> tuple[list[tuple[str, torch.Tensor]], list[str]]:
    """Split ``output`` into ``(suffix, tensor)`` leaves and the suffixes of non-tensor leaves.

    A plain tensor has the suffix ``""``; containers add ``:index`` or ``:key`` per level.
    ``None`` leaves are neither captured nor reported.
    """
    leaves: list[tuple[str, torch.Tensor]] = []
    skipped: list[str] = []
    _walk(output, "", leaves, skipped, 0)
    return leaves, skipped
