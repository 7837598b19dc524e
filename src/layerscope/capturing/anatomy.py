"""What a model is made of (names, modules, buffers, parameters): walked once, re-checked on every call.

>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
>>> first = anatomy(model)
>>> list(first.named), len(first.buffers), anatomy(model) is first
(['0', '1'], 3, True)
>>> _ = model.append(nn.ReLU())
>>> list(anatomy(model).named)
['0', '1', '2']

Every capture needs the model's module tree: to resolve layer names, to give each module
its train/eval flag back, to find the buffers it puts back. Walking a 250-module network,
listing its buffers and copying them costs about as much as cloning its 60 conv outputs,
so the walk is kept per model (weakly: it goes with the model) together with a
*fingerprint*: the entries of every module's ``_modules``, ``_buffers`` and ``_parameters``
tables (children by name and object, tensors by identity), read with C-level loops in
about a third of the walk's time. A tree is the same tree exactly when, from the root
down, every module holds the same children under the same names, and the same buffers and
parameters, so a fingerprint that matches proves the kept walk is current; one that
differs (a module added, removed, replaced or renamed, a buffer re-registered, a model
moved with ``.to()``) makes a fresh walk. The objects it compares are held by the walk,
so their identities cannot be reused meanwhile.

The buffer copies a capture keeps to put buffers back (see
:class:`~layerscope.capturing.state.ModelState`) are kept here between calls too, up to
:data:`KEEP_COPIES_BYTES`, and trusted only while each buffer's version counter says it
was not written since.
"""

from __future__ import annotations

import threading
import weakref
from itertools import chain
from operator import attrgetter
from typing import Any, Optional

import torch
import torch.nn as nn

__all__ = ["Anatomy", "PerModel", "anatomy", "forget_anatomy", "tensors_of", "KEEP_COPIES_BYTES"]

KEEP_COPIES_BYTES = 32 * 2**20  # buffer copies kept between calls when a model's buffers fit in this
_LOCK = threading.Lock()


class PerModel:
    """What was kept for each model, by identity (a module that defines ``__eq__`` is unhashable), weakly.

    >>> kept, model = PerModel(), nn.Linear(1, 1)
    >>> kept.set(model, "plan"); kept.get(model)
    'plan'
    >>> del model; len(kept)
    0
    """

    def __init__(self) -> None:
        self._data: dict[int, tuple[weakref.ref, Any]] = {}

    def __len__(self) -> int:
        return len(self._data)

    def get(self, model: nn.Module, default: Any = None) -> Any:
        entry = self._data.get(id(model))
        return entry[1] if entry is not None and entry[0]() is model else default

    def set(self, model: nn.Module, value: Any) -> None:
        key, data = id(model), self._data
        entry = data.get(key)
        if entry is not None and entry[0]() is model:
            data[key] = (entry[0], value)
            return

        def gone(ref: weakref.ref) -> None:
            if data.get(key, (None,))[0] is ref:
                del data[key]

        data[key] = (weakref.ref(model, gone), value)

    def pop(self, model: nn.Module) -> None:
        if self.get(model) is not None:
            del self._data[id(model)]


_CACHE = PerModel()  # model -> Anatomy
_MODULES, _BUFFERS, _PARAMETERS = attrgetter("_modules"), attrgetter("_buffers"), attrgetter("_parameters")


class Anatomy:
    """One walk of a model.

    ``named``: every dotted path to a submodule (a module reachable by several paths is
    listed under each; the root is left out), in ``named_modules`` order. ``modules``: each
    submodule once, in that order (not the root: the walk must not keep its model alive).
    ``buffers`` and ``params``: the tensors of the root and of ``modules`` (inference
    tensors, which have no version counter, left out). ``copies``: buffer copies kept
    between calls (see :class:`~layerscope.capturing.state.ModelState`). ``selections``:
    layer selectors already resolved on this tree; ``infos``: the metadata of captures made on it.
    """

    __slots__ = ("named", "modules", "buffers", "params", "ids", "copies", "keeps_copies", "selections", "infos",
                 "_inplace", "_print", "_held")

    def __init__(self, model: nn.Module) -> None:
        self.named = _walk(model)
        self.modules = list({id(m): m for m in self.named.values() if m is not model}.values())
        everyone = [model, *self.modules]
        self.ids = frozenset(map(id, everyone))
        buffers, params = _values(everyone, _BUFFERS), _values(everyone, _PARAMETERS)
        self.buffers, self.params = _tensors(buffers), _tensors(params)
        self.copies: Optional[tuple] = None
        self.keeps_copies = sum(t.numel() * t.element_size() for t in self.buffers) <= KEEP_COPIES_BYTES
        self.selections: dict[Any, dict[str, nn.Module]] = {}
        self.infos: dict[tuple, dict] = {}  # capture keys -> their LayerInfo (see Recorder)
        self._inplace: Optional[list[nn.Module]] = None
        self._print = _fingerprint(everyone)
        self._held = (buffers, params)
        # (held: the fingerprint compares identities, which stay unique only while their objects live)

    def take_copies(self) -> Optional[tuple]:
        """The kept buffer copies, taken out while a block uses them (another block meanwhile makes its own)."""
        with _LOCK:
            kept, self.copies = self.copies, None
        return kept

    def inplace(self) -> list[nn.Module]:
        """The submodules that write their input in place (``inplace=True``), found once per walk."""
        if self._inplace is None:
            self._inplace = [m for m in self.modules if m.__dict__.get("inplace") is True]
        return self._inplace

    def matches(self, model: nn.Module) -> bool:
        """Whether ``model`` still has exactly the tree this walk saw."""
        try:
            return _fingerprint([model, *self.modules]) == self._print
        except Exception:  # a module whose __eq__ does not answer with a bool
            return False


def anatomy(model: nn.Module) -> Anatomy:
    """The walk of ``model``: the kept one when its fingerprint still matches, else a fresh one."""
    kept = _CACHE.get(model)
    if kept is not None and kept.matches(model):
        return kept
    fresh = Anatomy(model)
    _CACHE.set(model, fresh)
    return fresh


def forget_anatomy(model: nn.Module) -> None:
    """Drop the walk (and buffer copies) kept for ``model``."""
    _CACHE.pop(model)


def _walk(model: nn.Module) -> dict[str, nn.Module]:
    found: dict[str, nn.Module] = {}
    _visit(model, "", found)
    return found


def _visit(module: nn.Module, prefix: str, found: dict[str, nn.Module]) -> None:
    for name, child in module._modules.items():
        if child is not None:
            path = prefix + name
            found[path] = child
            if child._modules:
                _visit(child, path + ".", found)


def _values(modules: list[nn.Module], table: attrgetter) -> list[Any]:
    return list(chain.from_iterable(map(dict.values, map(table, modules))))


def tensors_of(modules: list[nn.Module], table: str) -> list[torch.Tensor]:
    """The tensors of ``modules``' ``"_buffers"`` or ``"_parameters"`` tables: each once, with a version counter."""
    return _tensors(_values(modules, attrgetter(table)))


def _tensors(values: list[Any]) -> list[torch.Tensor]:
    found = [t for t in values if t is not None and not t.is_inference()]
    return list({id(t): t for t in found}.values())  # a tensor shared by two modules once


def _fingerprint(modules: list[nn.Module]) -> tuple:
    """Every module's children (name and object), buffers and parameters (identities), read by C-level loops."""
    return (
        list(chain.from_iterable(map(dict.items, map(_MODULES, modules)))),
        list(map(id, chain.from_iterable(map(dict.values, map(_BUFFERS, modules))))),
        list(map(id, chain.from_iterable(map(dict.values, map(_PARAMETERS, modules))))),
    )
