"""Which captured outputs a later op of the forward writes in place: learned, remembered, verified.

>>> import torch, torch.nn as nn
>>> from layerscope.capturing import Recorder
>>> vgg_like = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3), nn.ReLU())
>>> with Recorder(vgg_like, ["0", "2"]) as rec:
...     acts = rec(torch.randn(1, 3, 8, 8))
>>> sorted(rec.plan), rec.reruns, bool((acts["0"] < 0).any())
(['0'], 0, True)

A hook sees a module's output before the rest of the forward runs; ``ReLU(inplace=True)``
right after a conv, or ``out += identity`` in a ResNet block, then overwrites that very
tensor. The :class:`~layerscope.capturing.Recorder` copies exactly those outputs at hook
time. Which ones they are is *learned* from version counters (a tensor's version moves
when it is written in place) and kept per model and layer set (weakly: plans go with the
model). On the learning call the :class:`Learner` watches the modules with
``inplace=True`` (hooks on those alone: a global module hook would slow every module of
the forward): a capture is copied just before such a module receives it (its value still
intact), and outputs that another plan of the same model saw overwritten are copied at
hook time; either kind is then followed, without keeping it alive, to confirm the write.
A write between modules (``out += identity``) costs a second forward once, never a wrong
value: every output that is not copied is verified by its version counter.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from typing import Iterable, Iterator, Optional

import torch
import torch.nn as nn

from .anatomy import PerModel, forget_anatomy

__all__ = ["cached", "remember", "forget", "known", "module_of", "Learner"]

_PLANS = PerModel()  # model -> {layer set and options: plan}
_KEY_TAIL = re.compile(r"(#\d+)?(:.*)?$")


def cached(model: nn.Module, key: tuple) -> Optional[frozenset]:
    """The plan learned for ``model`` with this layer set and options, or None."""
    return _PLANS.get(model, {}).get(key)


def remember(model: nn.Module, key: tuple, plan: frozenset) -> None:
    plans = _PLANS.get(model)
    if plans is None:
        plans = {}
        _PLANS.set(model, plans)
    plans[key] = plan


def forget(model: nn.Module) -> None:
    """Drop all that captures kept for ``model``: its plans and its walk (the next capture starts afresh).

    Used by benchmarks and tests, to time or test a capture on a model it has not seen.
    """
    _PLANS.pop(model)
    forget_anatomy(model)


def module_of(key: str) -> str:
    """The module name of a capture key: ``'layer1.0.bn1#1:0'`` -> ``'layer1.0.bn1'``.

    >>> module_of("layer1.0.bn1#1:0"), module_of("features.0")
    ('layer1.0.bn1', 'features.0')
    """
    return _KEY_TAIL.sub("", key)


def known(model: nn.Module, names: Iterable[str]) -> frozenset:
    """Module names among ``names`` whose output another plan of ``model`` saw overwritten."""
    seen = {module_of(key) for plan in _PLANS.get(model, {}).values() for key in plan}
    return frozenset(n for n in names if n in seen)


class Learner:
    """The learning call: copies a capture just before an in-place module writes it, and confirms the write.

    The boundaries of the modules with ``inplace=True`` are watched (their own hooks, only
    while :meth:`following`). Before such a module runs, each capture not yet
    copied whose storage it receives is copied (its value is still intact) and then
    followed, without keeping the original alive, until its version moves (``written``)
    or it is freed. Outputs copied at hook time (known from other plans) are followed
    the same way. Writes by code between modules (``out += identity``) are not seen here:
    the version check at the end of the forward catches them.
    """

    def __init__(self, tensors: dict, copied: set) -> None:
        self.tensors, self.copied = tensors, copied
        self.exposed: dict[int, list[tuple[str, torch.Tensor, int]]] = {}  # storage -> captures not copied
        self.followed: list[tuple[str, weakref.ref, int]] = []
        self.written: set[str] = set()

    def expose(self, key: str, tensor: torch.Tensor) -> None:
        """A capture kept without a copy: copy it if an in-place module is about to write it."""
        self.exposed.setdefault(_storage(tensor), []).append((key, tensor, tensor._version))

    def follow(self, key: str, tensor: torch.Tensor) -> None:
        """An output copied at hook time: learn whether the original gets written."""
        self.followed.append((key, weakref.ref(tensor), tensor._version))

    def before(self, module: nn.Module, args: tuple) -> None:
        if getattr(module, "inplace", False) is not True or not self.exposed:
            return
        for arg in args:
            if isinstance(arg, torch.Tensor):
                for key, tensor, version in self.exposed.pop(_storage(arg), ()):
                    if tensor._version == version and key not in self.copied:
                        self.tensors[key] = tensor.clone()
                        self.copied.add(key)
                        self.follow(key, tensor)

    def check(self, *_: object) -> None:
        if not self.followed:
            return
        alive = []
        for key, ref, version in self.followed:
            tensor = ref()
            if tensor is not None and tensor._version != version:
                self.written.add(key)
            elif tensor is not None:
                alive.append((key, ref, version))
        self.followed = alive

    @contextlib.contextmanager
    def following(self, modules: Iterable[nn.Module]) -> Iterator["Learner"]:
        """Watch the boundaries of ``modules`` (those with ``inplace=True``: ``Anatomy.inplace()``)."""
        handles = []
        try:
            for module in modules:
                handles.append(module.register_forward_pre_hook(self.before))
                handles.append(module.register_forward_hook(self.check))
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self.check()


def _storage(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()
