"""The protocol every streaming accumulator of :mod:`layerscope.stats` follows, and the machinery they share.

>>> import torch
>>> from layerscope.stats import Extrema
>>> part = Extrema(2).update(torch.tensor([[1.0, -1.0], [3.0, float("nan")]]))
>>> whole = Extrema.from_state(part.state_dict()).merge(Extrema(2).update(torch.tensor([[0.0, 5.0]])))
>>> whole.result().min.tolist(), whole.result().max.tolist()
([0.0, -1.0], [3.0, 5.0])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import torch

from ..core.tensors import as_tensor
from ..errors import InputError, did_you_mean

__all__ = ["Accumulator", "check_channels", "per_channel"]

A = TypeVar("A", bound="Accumulator")


def per_channel(x: torch.Tensor) -> torch.Tensor:
    """A batch ``(N, C, ...)`` as ``(C, K)`` rows: every value of channel ``c`` in row ``c``.

    >>> per_channel(torch.arange(8.0).reshape(2, 2, 2)).tolist()
    [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0]]
    """
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def check_channels(channels: Any, owner: str) -> int:
    """``channels`` if it is a positive int, else an :class:`InputError` naming ``owner``."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise InputError(f"{owner} needs a positive channel count, got {channels!r}.")
    return channels


class Accumulator:
    """Per-channel statistics of batches ``(N, C, ...)`` (channels on dim 1, every other dim pooled).

    ``update(x)`` adds a batch, ``merge(other)`` folds in an accumulator of other data, both return
    self; ``result()`` gives numpy arrays on the CPU; ``state_dict()`` / ``from_state(state)`` save
    and rebuild the state (a flat dict of tensors, ready for ``safetensors``). The state is float64
    (int64 for pure counts) and lives on the device of the first batch; merged states move there.

    A subclass gives ``_empty(device)`` (the state before any data), ``_batch(x)`` (the state of one
    float64 batch alone), ``_combine(a, b)`` (the states of two disjoint parts as one) and ``result()``.
    """

    _SIZED = "mean"  # a state entry whose first dim is the channel count (read by from_state)

    def __init__(self, channels: int) -> None:
        self.channels = check_channels(channels, type(self).__name__)
        self._state = self._empty(torch.device("cpu"))
        self._placed = False  # False until data arrives: then the state moves to the data's device

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels})"

    @property
    def device(self) -> torch.device:
        return next(iter(self._state.values())).device

    def update(self: A, x: Any) -> A:
        """Add one batch ``(N, C, ...)`` (a tensor or numpy array); returns self."""
        batch = self._check_batch(x)
        if batch.numel():
            self._fold(self._batch(batch), placed=True)
        return self

    def merge(self: A, other: A) -> A:
        """Fold in an accumulator of the same kind and channels (and bins) over other data; returns self."""
        self._check_mergeable(other)
        self._fold(other._state, placed=other._placed)
        return self

    def to(self: A, device: Any) -> A:
        """Move the state to ``device`` (e.g. after :meth:`from_state` on the CPU); later batches join it there."""
        self._state = {name: value.to(device) for name, value in self._state.items()}
        self._placed = True
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """A copy of the state: contiguous tensors by name, on the accumulator's device."""
        return {name: value.clone(memory_format=torch.contiguous_format) for name, value in self._state.items()}

    @classmethod
    def from_state(cls: type[A], state: Mapping[str, Any]) -> A:
        """Rebuild an accumulator from :meth:`state_dict` (e.g. as loaded back from safetensors)."""
        return cls._blank(state)._load(state)

    def result(self) -> Any:
        raise NotImplementedError

    # -- what a subclass gives --------------------------------------------------------------------------
    @classmethod
    def _blank(cls: type[A], state: Mapping[str, Any]) -> A:
        """An empty accumulator shaped like ``state``."""
        return cls(cls._channels_in(state))

    @classmethod
    def _channels_in(cls, state: Mapping[str, Any]) -> int:
        if cls._SIZED not in state:
            raise InputError(f"{cls.__name__}.from_state: the state has no {cls._SIZED!r}; pass a state_dict().")
        return int(as_tensor(state[cls._SIZED], "a state entry").shape[0])

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- shared machinery -------------------------------------------------------------------------------
    def _numpy(self) -> dict[str, np.ndarray]:
        """The state as numpy arrays on the CPU, copies (a result never aliases the state)."""
        return {name: value.detach().cpu().numpy().copy() for name, value in self._state.items()}

    def _check_batch(self, x: Any) -> torch.Tensor:
        batch = as_tensor(x, "a batch")
        if batch.dim() < 2 or batch.shape[1] != self.channels:
            raise InputError(
                f"{self!r} got a batch of shape {tuple(batch.shape)}; it needs (N, {self.channels}, ...) "
                f"with the channels on dim 1."
            )
        return batch.to(torch.float64)

    def _fold(self, state: Mapping[str, torch.Tensor], placed: bool) -> None:
        if placed and not self._placed:
            device = next(iter(state.values())).device
            self._state = {name: value.to(device) for name, value in self._state.items()}
            self._placed = True
        device = self.device
        self._state = self._combine(self._state, {name: value.to(device) for name, value in state.items()})

    def _check_mergeable(self, other: Any) -> None:
        if type(other) is not type(self):
            raise InputError(f"Cannot merge {other!r} into {self!r}: merge accumulators of one kind.")
        if other.channels != self.channels:
            raise InputError(
                f"Cannot merge {other!r} into {self!r}: the channel counts differ ({other.channels} vs "
                f"{self.channels}); merge only accumulators of the same layer."
            )

    def _load(self: A, state: Mapping[str, Any]) -> A:
        expected = self._state
        for name in state:
            if name not in expected:
                raise InputError(
                    f"{type(self).__name__}.from_state: unknown entry {name!r}.{did_you_mean(name, expected)} "
                    f"The state of a {type(self).__name__} has {', '.join(expected)}."
                )
        loaded = {}
        for name, empty in expected.items():
            if name not in state:
                raise InputError(f"{type(self).__name__}.from_state: the entry {name!r} is missing; pass a state_dict().")
            value = as_tensor(state[name], "a state entry")
            if value.shape != empty.shape:
                raise InputError(
                    f"{type(self).__name__}.from_state: {name!r} has shape {tuple(value.shape)}, "
                    f"expected {tuple(empty.shape)}."
                )
            loaded[name] = value.to(empty.dtype, copy=True)
        devices = {value.device for value in loaded.values()}
        device = devices.pop() if len(devices) == 1 else torch.device("cpu")
        self._state = {name: value.to(device) for name, value in loaded.items()}
        self._placed = True
        return self
