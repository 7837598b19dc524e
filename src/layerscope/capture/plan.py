"""Which captured outputs a later op of the forward writes in place: predicted, learned, remembered.

>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True)), nn.Conv2d(8, 8, 3))
>>> sorted(predict(model, ["0.0", "1"]))
['0.0']

A hook sees a module's output before the rest of the forward runs; ``ReLU(inplace=True)``
right after a conv, or ``out += identity`` in a ResNet block, then overwrites that very
tensor. The :class:`~layerscope.capture.Recorder` copies exactly those outputs at hook
time. Which ones they are is *learned* from version counters (a tensor's version moves
when it is written in place) and kept per model and layer set (weakly: plans go with the
model). Before anything is learned, :func:`predict` guesses from the module tree: an
output is predicted overwritten when a module beside it (same parent) is an in-place
activation, or when another plan of the same model saw that module's output overwritten.
Predicted outputs are copied on the learning call, and :class:`Pending` follows their
originals (without keeping them alive) to the next module boundaries to confirm the
guess. A wrong guess costs a second forward once, never a wrong value: every output
that is not copied is verified by its version counter.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from typing import Iterable, Iterator, Optional

import torch.nn as nn

__all__ = ["cached", "remember", "forget", "predict", "module_of", "Pending"]

_PLANS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()
_KEY_TAIL = re.compile(r"(#\d+)?(:.*)?$")


def cached(model: nn.Module, key: tuple) -> Optional[frozenset]:
    """The plan learned for ``model`` with this layer set and options, or None."""
    return _PLANS.get(model, {}).get(key)


def remember(model: nn.Module, key: tuple, plan: frozenset) -> None:
    _PLANS.setdefault(model, {})[key] = plan


def forget(model: nn.Module) -> None:
    """Drop every plan of ``model`` (the next capture learns afresh; used by benchmarks and tests)."""
    _PLANS.pop(model, None)


def module_of(key: str) -> str:
    """The module name of a capture key: ``'layer1.0.bn1#1:0'`` -> ``'layer1.0.bn1'``.

    >>> module_of("layer1.0.bn1#1:0"), module_of("features.0")
    ('layer1.0.bn1', 'features.0')
    """
    return _KEY_TAIL.sub("", key)


def predict(model: nn.Module, names: Iterable[str], modules: Optional[dict[str, nn.Module]] = None) -> frozenset:
    """Module names among ``names`` whose output a later in-place op may overwrite.

    ``modules``: the model's dotted name -> module map, when the caller has it.
    """
    modules = dict(model.named_modules()) if modules is None else modules
    known = {module_of(key) for plan in _PLANS.get(model, {}).values() for key in plan}
    return frozenset(n for n in names if n in known or _beside_inplace(model, modules, n))


def _beside_inplace(model: nn.Module, modules: dict[str, nn.Module], name: str) -> bool:
    """Whether a module of the same parent as ``name`` runs in place (``ReLU(inplace=True)``, ...)."""
    parent_name = name.rpartition(".")[0]
    parent = modules.get(parent_name, model) if parent_name else model
    return any(getattr(child, "inplace", False) is True for child in parent._modules.values())


class Pending:
    """Originals of outputs copied at hook time, followed without being kept alive.

    Each is checked at every module boundary of the forward (global module hooks, only while
    :meth:`following`): written (its version moved) while alive, or freed unwritten. One still
    alive at the end is checked then. ``written`` collects the keys seen written.
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, weakref.ref, int]] = []
        self.written: set[str] = set()

    def add(self, key: str, tensor) -> None:
        self.items.append((key, weakref.ref(tensor), tensor._version))

    def check(self, *_: object) -> None:
        if not self.items:
            return
        alive = []
        for key, ref, version in self.items:
            tensor = ref()
            if tensor is None:
                continue
            if tensor._version != version:
                self.written.add(key)
            else:
                alive.append((key, ref, version))
        self.items = alive

    @contextlib.contextmanager
    def following(self) -> Iterator["Pending"]:
        module = nn.modules.module
        handles = [module.register_module_forward_pre_hook(self.check), module.register_module_forward_hook(self.check)]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self.check()
