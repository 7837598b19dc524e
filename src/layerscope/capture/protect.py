"""Copy-on-write protection for captured tensors that a later op would modify in place.

A forward hook sees a module's output *before* the rest of the forward runs.
``nn.ReLU(inplace=True)`` after a conv, or ``out += identity`` in a ResNet block,
then overwrites that very tensor. Cloning every capture would be safe but costs
a copy per layer; instead :class:`WriteGuard` watches the storages of captured
tensors and, only when an aten op is about to write to one of them (the op's
schema marks that argument as written), copies the captured value first.

>>> import torch
>>> kept = {}
>>> guard = WriteGuard(lambda keys: kept.update({k: "copied" for k in keys}))
>>> x = torch.zeros(3)
>>> guard.watch(x, "conv")
>>> with guard:
...     _ = x.add_(1)
>>> kept
{'conv': 'copied'}
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["WriteGuard", "storage_key"]

_WRITTEN: dict = {}


def storage_key(tensor: torch.Tensor) -> tuple | None:
    """Identity of the memory behind ``tensor`` (shared by all its views), or None if it has none."""
    try:
        ptr = tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # sparse, nested or functional tensors
        return None
    return (tensor.device, ptr) if ptr else None


def _written_arguments(func) -> tuple[tuple[int, str], ...]:
    """(position, name) of every argument that ``func``'s schema says it writes to; cached per op."""
    found = _WRITTEN.get(func)
    if found is None:
        schema = getattr(func, "_schema", None)
        found = tuple(
            (index, arg.name)
            for index, arg in enumerate(schema.arguments if schema is not None else ())
            if arg.alias_info is not None and arg.alias_info.is_write
        )
        _WRITTEN[func] = found
    return found


def _tensors(value) -> Iterable[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, torch.Tensor):
                yield item


class WriteGuard(TorchDispatchMode):
    """Dispatch mode that calls ``on_write(keys)`` before an op writes to a watched storage."""

    def __init__(self, on_write: Callable[[list[str]], None]):
        super().__init__()
        self._on_write = on_write
        self._watched: dict[tuple, list[str]] = {}

    def watch(self, tensor: torch.Tensor, key: str) -> None:
        storage = storage_key(tensor)
        if storage is not None:
            self._watched.setdefault(storage, []).append(key)

    def clear(self) -> None:
        self._watched.clear()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._watched:
            for position, name in _written_arguments(func):
                value = kwargs[name] if name in kwargs else (args[position] if position < len(args) else None)
                for tensor in _tensors(value):
                    keys = self._watched.pop(storage_key(tensor), None)
                    if keys:
                        self._on_write(keys)
        return func(*args, **kwargs)
