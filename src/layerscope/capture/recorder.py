"""Forward hooks with an owned lifetime: the engine behind :func:`layerscope.capture`.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True))
>>> with Recorder(model, "0") as rec:
...     acts = rec(torch.randn(1, 3, 8, 8))
>>> bool((acts["0"] < 0).any())  # the conv output, not the ReLU'd tensor
True
>>> model[0]._forward_hooks
OrderedDict()

Exact at the cost of plain hooks. A hook keeps the module's output as it is (no copy)
and reads its version counter. After the forward, a capture whose version moved was
written in place by a later op (``ReLU(inplace=True)``, ``out += identity``): those
keys form the *copy plan*. The first call with a set of layers copies every output at
hook time and learns the plan from the version counters; later calls copy only the
planned outputs and verify every other capture by its version counter. When a write
appears that the plan did not foresee (data-dependent control flow), that forward's
captures are discarded and the forward runs again with every output copied, which
also learns the new plan. Plans are cached per model and layer set (weakly: they go
with the model), so one-shot :func:`capture` calls reuse them too.

Writes that bypass version counters (``tensor.data.add_()``, writes through numpy
views) are invisible to this check.
"""

from __future__ import annotations

import weakref
from typing import Any, Optional

import torch
import torch.nn as nn

from ..errors import InputError
from .activations import Activations, LayerInfo
from .call import call_model, check_device, check_dtype, model_device, move_inputs
from .flatten import flatten_output
from .hookable import ensure_hookable
from .select import LayerSelector, select_layers
from .state import ModelState

__all__ = ["Recorder"]

_PLANS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


class _StopForward(Exception):
    """Raised from a hook to end the forward once every selected layer has run."""


class _Call:
    """One forward's captures: the tensors, what each came from, and the versions to verify."""

    __slots__ = ("tensors", "origin", "watch", "calls", "skipped", "copy", "grad", "offload", "dtype")

    def __init__(self, copy: Optional[frozenset], grad: bool, offload, dtype) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.origin: dict[str, tuple[str, nn.Module, int, str]] = {}
        self.watch: list[tuple[str, torch.Tensor, int]] = []
        self.calls: dict[str, int] = {}
        self.skipped: dict[str, tuple[str, ...]] = {}
        self.copy = copy  # None: copy everything (the learning call)
        self.grad, self.offload, self.dtype = grad, offload, dtype

    def add(self, name: str, module: nn.Module, output: Any) -> None:
        index = self.calls.get(name, 0)
        self.calls[name] = index + 1
        base = (name or "output") if index == 0 else f"{name or 'output'}#{index}"
        if isinstance(output, torch.Tensor):
            leaves, skipped = (("", output),), ()
        else:
            leaves, skipped = flatten_output(output)
            if skipped:
                self.skipped[base] = tuple(skipped)
        for suffix, tensor in leaves:
            key = base + suffix
            if key in self.tensors:
                raise _collision(key, self.origin[key][0], name)
            self.tensors[key] = self._keep(key, tensor)
            self.origin[key] = (name, module, index, suffix)

    def _keep(self, key: str, tensor: torch.Tensor) -> torch.Tensor:
        value = tensor if self.grad else tensor.detach()
        if self.offload is not None or self.dtype is not None:
            cast = self.dtype if self.dtype is not None and value.is_floating_point() else None
            moved = value.to(device=self.offload, dtype=cast)
            if moved.untyped_storage().data_ptr() != value.untyped_storage().data_ptr():
                return moved  # a copy already: nothing later can write to it
            value = moved
        if value.is_inference():  # no version counter to verify with: copy
            return value.clone()
        if self.copy is None:
            self.watch.append((key, value, value._version))
            return value.clone()
        if key in self.copy:
            return value.clone()
        self.watch.append((key, value, value._version))
        return value

    def written(self) -> frozenset:
        """Keys whose output tensor was written in place after its hook ran."""
        return frozenset(key for key, tensor, version in self.watch if tensor._version != version)


def _collision(key: str, first: str, second: str) -> InputError:
    return InputError(
        f"Two captures would both be named {key!r}: the output of module {first!r} and of module {second!r}. "
        "Select only one of them (e.g. layers=[...] without the other), or rename the module."
    )


class Recorder:
    """Context manager that records the outputs of selected layers on every forward it runs.

    On enter it resolves ``layers`` (see :func:`select_layers`), puts the model in
    eval mode and registers one forward hook per selected module; on exit it
    removes every hook and restores each module's ``training`` flag, also when a
    forward raised. Each call ``rec(inputs)`` runs the model under ``no_grad``
    (``grad=True``: with autograd, captures stay in the graph) and returns a fresh
    :class:`Activations`; buffers a forward rewrites are put back after each call
    (``restore_buffers=False`` keeps the forward's changes).

    ``inputs``: one tensor, a tuple (positional), a dict (keywords) or
    :class:`~layerscope.Args` (both); tensors are moved to the model's device
    (floating ones to its dtype). ``offload="cpu"`` copies each capture to that device
    as it is taken (big models on GPU); ``dtype`` casts floating captures.
    ``stop_early=True`` ends the forward once every selected module has run once (the
    model output is then ``None``).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: LayerSelector = None,
        *,
        offload: Any = None,
        dtype: Optional[torch.dtype] = None,
        stop_early: bool = False,
        grad: bool = False,
        restore_buffers: bool = True,
    ) -> None:
        self.model = ensure_hookable(model)
        self.names = select_layers(model, layers)
        self.offload = check_device(offload)
        self.dtype = check_dtype(dtype)
        self.stop_early = bool(stop_early)
        self.grad = bool(grad)
        self.restore_buffers = bool(restore_buffers)
        self.reruns = 0  # forwards run again because a capture was overwritten unforeseen
        self._state: Optional[ModelState] = None
        self._call: Optional[_Call] = None
        self._infos: dict[str, LayerInfo] = {}
        self._plan_key = (tuple(self.names), self.offload, self.dtype, self.grad, self.stop_early)

    # -- lifetime ---------------------------------------------------------------------------------
    def __enter__(self) -> "Recorder":
        if self._state is not None:
            raise InputError("This Recorder is already active; use one `with` block at a time.")
        state = ModelState(self.model, restore_buffers=self.restore_buffers).__enter__()
        try:
            modules = dict(self.model.named_modules(remove_duplicate=False))
            for name in self.names:
                state.hook(modules[name], self._make_hook(name))
        except BaseException:
            state.__exit__(None, None, None)
            raise
        self._state = state
        return self

    def __exit__(self, *exc_info: Any) -> None:
        state, self._state = self._state, None
        if state is not None:
            state.__exit__(*exc_info)

    def _make_hook(self, name: str):
        count = len(self.names)

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            call = self._call
            if call is None:  # the model was called directly inside the `with` block
                return None
            call.add(name, module, output)
            if self.stop_early and len(call.calls) == count:
                raise _StopForward
            return None

        return hook

    # -- recording ------------------------------------------------------------------------------------
    @property
    def plan(self) -> Optional[frozenset]:
        """The keys copied at hook time on the next call (None: not learned yet)."""
        return _PLANS.get(self.model, {}).get(self._plan_key)

    def __call__(self, inputs: Any) -> Activations:
        if self._state is None:
            raise InputError("Recorder is not active: use `with Recorder(model, layers) as rec: rec(x)`.")
        inputs = move_inputs(inputs, *model_device(self.model))
        plan = self.plan
        acts = self._run(inputs, plan)
        if acts is None:  # a write the plan did not foresee: run again, copying everything
            self.reruns += 1
            acts = self._run(inputs, None)
        return acts

    def _run(self, inputs: Any, plan: Optional[frozenset]) -> Optional[Activations]:
        call = self._call = _Call(plan, self.grad, self.offload, self.dtype)
        output = None
        try:
            self._state.snapshot()
            with torch.inference_mode(False), torch.set_grad_enabled(self.grad):
                try:
                    output = call_model(self.model, inputs, grad=self.grad)
                except _StopForward:
                    output = None
            written = call.written()
        finally:
            self._call = None
            self._state.restore()
        if plan is None:
            _PLANS.setdefault(self.model, {})[self._plan_key] = plan = written
        elif written:
            return None
        protected = plan.intersection(call.tensors)
        return Activations(call.tensors, self._info(call), _detach(output, self.grad), call.skipped, protected)

    def _info(self, call: _Call) -> dict[str, LayerInfo]:
        infos = {}
        for key, (name, module, index, suffix) in call.origin.items():
            skipped = call.skipped.get(key[: len(key) - len(suffix)], ())
            info = self._infos.get(key)
            if info is None or info.skipped != skipped or info.module_type != type(module).__name__:
                info = self._infos[key] = LayerInfo(key, name, type(module).__name__, index, suffix, skipped)
            infos[key] = info
        return infos


def _detach(value: Any, grad: bool) -> Any:
    if grad:
        return value
    if isinstance(value, torch.Tensor):
        return value.detach()
    if type(value) is dict:
        return {k: _detach(v, grad) for k, v in value.items()}
    if isinstance(value, list) or (isinstance(value, tuple) and not hasattr(value, "_fields")):
        return type(value)(_detach(v, grad) for v in value)
    return value
