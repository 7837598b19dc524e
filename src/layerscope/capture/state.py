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
...     _ = model(torch.ones(1)); state.restore()
...     model.training, float(model.steps)
(False, 0.0)
>>> model.training, float(model.steps), len(model._forward_hooks)
(True, 0.0, 0)

Every entry point that runs a user's model (``Recorder``, ``list_layers``, ``diagnose``)
goes through :class:`ModelState`: it puts the model in eval mode, owns every hook handle
it registers, and on exit (also after a raising forward) removes them and gives each
module its ``training`` flag back. With ``restore_buffers=True`` (the default) buffers
that a forward rewrites in place (a step counter, a cache), replaces (``self.buf = ...``)
or registers are put back as they were after each forward (:meth:`restore`) and on exit.
Parameters are never copied (that would cost a model's worth of memory): one that a
forward modified in place is reported with a warning.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Optional

import torch
import torch.nn as nn

__all__ = ["ModelState"]


def _version(tensor: torch.Tensor) -> Optional[int]:
    """The version counter, or None for inference tensors (which have none, and cannot be written here)."""
    return None if tensor.is_inference() else tensor._version


class _Slots:
    """The ``_buffers``/``_parameters`` dicts of every module, as references, and the buffers' values."""

    def __init__(self, model: nn.Module, copy_buffers: bool) -> None:
        self.modules = list(model.modules())
        self.copy_buffers = copy_buffers
        self.values: dict[int, tuple[torch.Tensor, Optional[int], Optional[torch.Tensor]]] = {}
        self.snapshot()

    def snapshot(self) -> None:
        """Before a forward: note every slot, parameter versions, and copy buffers changed since the last copy."""
        self.buffers = [dict(m._buffers) for m in self.modules]
        self.non_persistent = [set(m._non_persistent_buffers_set) for m in self.modules]
        self.params = [dict(m._parameters) for m in self.modules]
        self.param_versions = {id(p): _version(p) for d in self.params for p in d.values() if p is not None}
        if self.copy_buffers:
            self.refresh()

    def refresh(self) -> None:
        """Copy each buffer whose (identity, version) changed since its last copy (all, the first time)."""
        for saved in self.buffers:
            for tensor in saved.values():
                if tensor is None:
                    continue
                known = self.values.get(id(tensor))
                version = _version(tensor)
                if known is None or known[0] is not tensor or known[1] != version:
                    copy = tensor.detach().clone() if version is not None else None
                    self.values[id(tensor)] = (tensor, version, copy)

    def restore(self, buffers: bool) -> list[str]:
        """Put back every module's slots; with ``buffers`` also the buffers' values. Names changed parameters."""
        for module, saved, persistent, params in zip(self.modules, self.buffers, self.non_persistent, self.params):
            if not _same(module._buffers, saved) and buffers:
                module._buffers.clear()
                module._buffers.update(saved)
                module._non_persistent_buffers_set.clear()
                module._non_persistent_buffers_set.update(persistent)
            if not _same(module._parameters, params):
                module._parameters.clear()
                module._parameters.update(params)
        if buffers:
            self._restore_values()
        return [name for name, p in self._named_params() if _version(p) != self.param_versions[id(p)]]

    def _restore_values(self) -> None:
        with torch.no_grad():
            for key, (tensor, version, copy) in self.values.items():
                if copy is not None and tensor._version != version:
                    tensor.copy_(copy)
                    self.values[key] = (tensor, tensor._version, copy)

    def _named_params(self):
        for module, params in zip(self.modules, self.params):
            for name, p in params.items():
                if p is not None:
                    yield f"{type(module).__name__}.{name}", p


def _same(current: dict, saved: dict) -> bool:
    if len(current) != len(saved):
        return False
    return all(saved.get(key, _MISSING) is value for key, value in current.items())


_MISSING = object()


class ModelState:
    """Context manager owning hooks, train/eval flags and (optionally) buffers of ``model``.

    ``eval=False`` keeps the modules' modes during the block (they are still restored on exit).
    """

    def __init__(self, model: nn.Module, *, restore_buffers: bool = True, eval: bool = True) -> None:
        self.model = model
        self.restore_buffers = restore_buffers
        self.eval = eval
        self._handles: list = []
        self._modes: dict[nn.Module, bool] = {}
        self._slots: Optional[_Slots] = None
        self._warned: set[str] = set()

    @property
    def active(self) -> bool:
        return self._slots is not None

    def __enter__(self) -> "ModelState":
        self._modes = {m: m.training for m in self.model.modules()}
        try:
            self._slots = _Slots(self.model, self.restore_buffers)
            if self.eval:
                self.model.eval()
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

    def snapshot(self) -> None:
        """Before a forward: note the slots again and copy buffers changed since (by the user, between calls)."""
        if self._slots is not None:
            self._slots.snapshot()

    def restore(self) -> None:
        """After a forward: put buffers (and replaced parameters) back as they were."""
        if self._slots is None:
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
                self.restore()
        finally:
            for module, training in self._modes.items():
                module.training = training
            self._modes.clear()
            self._slots = None
