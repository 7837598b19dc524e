"""What layerscope changes on a model, owned for one block: hooks, train/eval flags, buffers.

>>> import torch, torch.nn as nn
>>> class Counter(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.register_buffer("steps", torch.zeros(()))
...     def forward(self, x):
...         self.steps += 1                      # a forward that rewrites its own buffer
...         return x
>>> model = Counter().train()
>>> with ModelState(model) as state:
...     _ = state.hook(model, lambda m, args, out: None)
...     with state.forward():
...         _ = model(torch.ones(1))
...     model.training, float(model.steps)
(False, 0.0)
>>> model.training, float(model.steps), len(model._forward_hooks)
(True, 0.0, 0)

Every entry point that runs a user's model (``Recorder``, ``list_layers``, ``diagnose``)
goes through :class:`ModelState`: it puts the model in eval mode, owns every hook handle
it registers, and on exit (also after a raising forward) removes them and gives each
module its ``training`` flag back. With ``restore_buffers=True`` (the default) buffers
that a forward rewrites in place (a step counter, a cache), replaces (``self.buf = ...``)
or registers are put back as they were after each forward (each one runs in
``with state.forward():``). The copies they are put back from are kept with the model's
walk (:mod:`~layerscope.capturing.anatomy`) between blocks and made again for a buffer whose
version counter moved, or that a forward wrote.
Parameters are never copied (that would cost a model's worth of memory): one that a
forward modified in place is reported with a warning.
"""

from __future__ import annotations

import contextlib
import warnings
from operator import attrgetter
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn as nn
from torch._utils import _flatten_dense_tensors

from .anatomy import Anatomy, anatomy, tensors_of
from .call import device_of, model_device

__all__ = ["ModelState"]

_TRAINING = attrgetter("training")


class _Slots:
    """Buffers and parameters of a model: copies to restore from, and the undo log of one forward.

    Registrations (``register_buffer``, ``self.buf = tensor``, ``register_parameter``) are seen
    through torch's global registration hooks, installed for the block's lifetime: during a
    forward each one is logged with what it replaced, and undone after it; between forwards
    (the user's own changes) they only mark the copies for a rescan. In-place writes are seen
    through version counters. So a call costs one version read per buffer and parameter, not
    a walk over every module; copies are made in one flat copy per dtype and device, and kept
    with the model's walk for the next block.
    """

    def __init__(self, body: Anatomy, modules: list[nn.Module], copy_buffers: bool) -> None:
        self.body, self.modules, self.ids = body, modules, body.ids
        self.copy_buffers = copy_buffers
        self.buffers: list[torch.Tensor] = body.buffers  # every buffer with a version counter, and its copy
        self.params: list[torch.Tensor] = body.params
        kept = body.take_copies()
        # copies (see _copies) and the buffers' versions when copied (or last put back)
        fresh = ([None] * len(self.buffers), [-1] * len(self.buffers))
        self.copies, self.versions = kept if kept and copy_buffers else fresh
        self.rewritten: set[int] = set()  # buffers a forward wrote: copied afresh next time
        self.param_versions: list[int] = []
        self.undo: list[tuple] = []
        self.in_forward = False
        self.dirty = False
        self.handles = [
            nn.modules.module.register_module_buffer_registration_hook(self._on_buffer),
            nn.modules.module.register_module_parameter_registration_hook(self._on_parameter),
        ]

    def close(self) -> None:
        """Remove the registration hooks; keep the copies with the model's anatomy for the next call."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        if self.copy_buffers and not self.dirty and self.buffers is self.body.buffers and self.body.keeps_copies:
            for index in self.rewritten:  # (a write through .data would leave its copy stale unseen)
                self.copies[index], self.versions[index] = None, -1
            self.body.copies = (self.copies, self.versions)

    def _on_buffer(self, module: nn.Module, name: str, tensor: Any) -> None:
        if id(module) in self.ids:
            self._log(module, "_buffers", name)

    def _on_parameter(self, module: nn.Module, name: str, param: Any) -> None:
        if id(module) in self.ids:
            self._log(module, "_parameters", name)

    def _log(self, module: nn.Module, slot: str, name: str) -> None:
        if not self.in_forward:
            self.dirty = True
            return
        table = getattr(module, slot)
        hidden = name in module._non_persistent_buffers_set
        self.undo.append((module, slot, name, name in table, table.get(name), hidden))

    def snapshot(self) -> None:
        """Before a forward: copy what changed since the last copy (everything, the first time)."""
        self.prepare()
        self.in_forward = True

    def prepare(self) -> None:
        if self.dirty:
            self._rescan()
        now = [t._version for t in self.buffers]
        if now != self.versions and self.copy_buffers:  # written by the user between two forwards
            copies = self.copies
            versions = self.versions
            stale = [i for i, (now_, old) in enumerate(zip(now, versions)) if now_ != old or copies[i] is None]
            for index, copy in zip(stale, _copies([self.buffers[i] for i in stale])):
                self.copies[index] = copy
        self.versions = now
        self.param_versions = [p._version for p in self.params]

    def _rescan(self) -> None:
        known = {id(t): c for t, c in zip(self.buffers, self.copies)}
        self.buffers = tensors_of(self.modules, "_buffers")
        self.copies = [known.get(id(t)) for t in self.buffers]
        self.versions = [-1] * len(self.buffers)  # forces a copy of the new ones
        self.params = tensors_of(self.modules, "_parameters")
        self.dirty = False

    def restore(self, buffers: bool) -> list[str]:
        """After a forward: undo its registrations and buffer writes; names the parameters it wrote."""
        self.in_forward = False
        for module, slot, name, present, old, hidden in reversed(self.undo):
            if slot == "_buffers" and not buffers:
                self.dirty = True  # kept: its new tensors are tracked from the next forward on
                continue
            table = getattr(module, slot)
            if present:
                table[name] = old
            else:
                table.pop(name, None)
            if slot == "_buffers":
                (module._non_persistent_buffers_set.add if hidden else module._non_persistent_buffers_set.discard)(name)
        self.undo.clear()
        now = [t._version for t in self.buffers]
        if now != self.versions:
            self._put_back(now, buffers)
        after = [p._version for p in self.params]
        if after == self.param_versions:
            return []
        changed = {id(p) for p, a, b in zip(self.params, after, self.param_versions) if a != b}
        return [f"{type(m).__name__}.{n}" for m in self.modules for n, p in m._parameters.items() if id(p) in changed]

    def _put_back(self, now: list[int], buffers: bool) -> None:
        with torch.no_grad():
            for index, (tensor, version, old) in enumerate(zip(self.buffers, now, self.versions)):
                if version != old and buffers and self.copies[index] is not None:
                    tensor.copy_(_copied(self.copies[index], tensor))
                    self.versions[index] = tensor._version
                    self.rewritten.add(index)
                elif version != old:
                    self.versions[index] = -1  # kept as the forward left it: copy it again next time


def _copies(tensors: list[torch.Tensor]) -> list[tuple]:
    """Copies of ``tensors`` as ``(flat, offset)``: one flat copy per dtype and device (a clone each costs ~4 µs).

    Read one back with :func:`_copied`; most are never read (a forward rarely writes a buffer).

    >>> a, b = torch.arange(6.0).view(2, 3).t(), torch.ones(2)
    >>> c = torch.zeros(1, dtype=torch.long)
    >>> [torch.equal(_copied(copy, t), t) for copy, t in zip(_copies([a, b, c]), [a, b, c])]
    [True, True, True]
    """
    groups: dict[tuple, list[int]] = {}
    for index, tensor in enumerate(tensors):
        groups.setdefault((tensor.dtype, tensor.device), []).append(index)
    copies: list[tuple] = [()] * len(tensors)
    with torch.no_grad():
        for indices in groups.values():
            group = [tensors[i] for i in indices]
            try:
                flat = _flatten_dense_tensors(group) if len(group) > 1 else None
            except (RuntimeError, TypeError, NotImplementedError):  # sparse, quantized, ...: one clone each
                flat = None
            offset = 0
            for index, tensor in zip(indices, group):
                copies[index] = (flat, offset) if flat is not None else (tensor.detach().clone(), None)
                offset += tensor.numel()
    return copies


def _copied(copy: tuple, like: torch.Tensor) -> torch.Tensor:
    """The tensor a :func:`_copies` entry holds (shaped like ``like``)."""
    flat, offset = copy
    return flat if offset is None else flat[offset : offset + like.numel()].view(like.shape)


class ModelState:
    """Context manager owning hooks, train/eval flags and (optionally) buffers of ``model``.

    ``eval=False`` keeps the modules' modes during the block (they are still restored on exit).
    ``body``: the model's :class:`~layerscope.capturing.anatomy.Anatomy` when the caller made or
    checked it just now (else it is looked up, and checked, on enter).
    """

    def __init__(
        self, model: nn.Module, *, restore_buffers: bool = True, eval: bool = True, body: Optional[Anatomy] = None
    ) -> None:
        self.model = model
        self._walked = body  # the model's walk, when the caller made (or checked) it just now
        self.restore_buffers = restore_buffers
        self.eval = eval
        self._handles: list = []
        self._modules: list[nn.Module] = []
        self._training: set[int] = set()  # ids of the modules in training mode before the block
        self._slots: Optional[_Slots] = None
        self._warned: set[str] = set()
        self.body: Optional[Anatomy] = None  # the model's walk, while active

    @property
    def active(self) -> bool:
        return self._slots is not None

    def device(self) -> tuple[torch.device, Optional[torch.dtype]]:
        """Device and floating dtype of the model's first parameter (or buffer), as :func:`model_device` says."""
        found = device_of((self._slots.params, self._slots.buffers)) if self._slots is not None else None
        return found or model_device(self.model)  # none (or only inference tensors): walk it

    def __enter__(self) -> "ModelState":
        body = self.body = self._walked if self._walked is not None else anatomy(self.model)
        self._walked = None
        modules = self._modules = [self.model, *body.modules]
        self._training = {id(m) for m in modules if m.training}
        try:
            self._slots = _Slots(body, modules, self.restore_buffers)
            if self.eval and self._training:
                self.model.eval()  # the model's own eval(): subclasses may override train()
        except BaseException:
            self._release()
            raise
        return self

    def hook(self, module: nn.Module, fn: Callable[..., Any], *, pre: bool = False, **kwargs: Any) -> Any:
        """Register a forward (or forward pre-) hook owned by this block; returns its handle."""
        register = module.register_forward_pre_hook if pre else module.register_forward_hook
        handle = register(fn, **kwargs)
        self._handles.append(handle)
        return handle

    @contextlib.contextmanager
    def forward(self) -> Iterator[None]:
        """Wrap each forward: buffers (and replaced parameters) are put back after it, also when it raises."""
        if self._slots is None:
            raise RuntimeError("ModelState.forward() outside its `with` block")
        self._slots.snapshot()
        try:
            yield
        finally:
            self._restore()

    def _restore(self) -> None:
        if self._slots is None or not self._slots.in_forward:
            return
        changed = self._slots.restore(self.restore_buffers)
        for name in changed:
            if name not in self._warned:
                self._warned.add(name)
                warnings.warn(
                    f"The model's forward modified the parameter {name} in place; layerscope restores buffers "
                    "but does not copy parameters, so the model now differs from before the call.",
                    RuntimeWarning,
                    stacklevel=3,
                )

    def __exit__(self, *exc_info: Any) -> None:
        self._release()

    def _release(self) -> None:
        try:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            if self._slots is not None:
                self._slots.close()
        finally:
            modules, before = self._modules, self._training
            if before or any(map(_TRAINING, modules)):  # (all in eval before and after: nothing to put back)
                for module in modules:
                    training = id(module) in before
                    if module.training != training:
                        module.training = training
            self._modules = []
            self._slots = self.body = None
