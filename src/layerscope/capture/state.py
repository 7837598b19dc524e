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
``with state.forward():``).
Parameters are never copied (that would cost a model's worth of memory): one that a
forward modified in place is reported with a warning.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn as nn

__all__ = ["ModelState"]


class _Slots:
    """Buffers and parameters of a model: copies to restore from, and the undo log of one forward.

    Registrations (``register_buffer``, ``self.buf = tensor``, ``register_parameter``) are seen
    through torch's global registration hooks, installed for the block's lifetime: during a
    forward each one is logged with what it replaced, and undone after it; between forwards
    (the user's own changes) they only mark the copies for a rescan. In-place writes are seen
    through version counters. So a call costs one version read per buffer and parameter, not
    a walk over every module.
    """

    def __init__(self, modules: list[nn.Module], copy_buffers: bool) -> None:
        self.modules = modules
        self.ids = {id(m) for m in self.modules}
        self.copy_buffers = copy_buffers
        self.buffers: list[torch.Tensor] = []  # every buffer with a version counter, and its copy
        self.copies: list[Optional[torch.Tensor]] = []
        self.versions: list[int] = []  # the buffers' versions when copied (or last put back)
        self.params: list[torch.Tensor] = []
        self.param_versions: list[int] = []
        self.undo: list[tuple] = []
        self.in_forward = False
        self.dirty = True
        self.handles = [
            nn.modules.module.register_module_buffer_registration_hook(self._on_buffer),
            nn.modules.module.register_module_parameter_registration_hook(self._on_parameter),
        ]

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

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
            for index, (tensor, version, old) in enumerate(zip(self.buffers, now, self.versions)):
                if version != old or self.copies[index] is None:
                    self.copies[index] = tensor.detach().clone()
        self.versions = now
        self.param_versions = [p._version for p in self.params]

    def _rescan(self) -> None:
        known = {id(t): c for t, c in zip(self.buffers, self.copies)}
        self.buffers = [t for m in self.modules for t in m._buffers.values() if t is not None and not t.is_inference()]
        self.copies = [known.get(id(t)) for t in self.buffers]
        self.versions = [-1] * len(self.buffers)  # forces a copy of the new ones
        self.params = [p for m in self.modules for p in m._parameters.values() if p is not None and not p.is_inference()]
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
                    tensor.copy_(self.copies[index])
                    self.versions[index] = tensor._version
                elif version != old:
                    self.versions[index] = -1  # kept as the forward left it: copy it again next time


class ModelState:
    """Context manager owning hooks, train/eval flags and (optionally) buffers of ``model``.

    ``eval=False`` keeps the modules' modes during the block (they are still restored on exit).
    """

    def __init__(
        self, model: nn.Module, *, restore_buffers: bool = True, eval: bool = True, modules: Optional[list] = None
    ) -> None:
        self.model = model
        self._given = modules  # every module of ``model`` once, when the caller already walked it
        self.restore_buffers = restore_buffers
        self.eval = eval
        self._handles: list = []
        self._modules: list[nn.Module] = []
        self._training: set[int] = set()  # ids of the modules in training mode before the block
        self._slots: Optional[_Slots] = None
        self._warned: set[str] = set()

    @property
    def active(self) -> bool:
        return self._slots is not None

    def __enter__(self) -> "ModelState":
        modules = self._modules = self._given if self._given is not None else list(self.model.modules())
        self._training = {id(m) for m in modules if m.training}
        try:
            self._slots = _Slots(modules, self.restore_buffers)
            self._slots.prepare()
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
            for module in self._modules:
                training = id(module) in self._training
                if module.training != training:
                    module.training = training
            self._modules = []
            self._slots = None
