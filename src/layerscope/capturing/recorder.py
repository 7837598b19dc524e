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

import contextlib

from typing import Any, Optional

import torch
import torch.nn as nn

from ..errors import InputError
from .activations import Activations, LayerInfo
from .anatomy import Anatomy, anatomy
from .call import call_model, check_device, check_dtype, image_size_of, move_inputs
from .flatten import flatten_output
from .hookable import ensure_hookable
from .plan import Learner, cached, known, remember
from .select import LayerSelector, selected_modules
from .state import ModelState
from .tokens import TokenGeometry, token_geometry

__all__ = ["Recorder"]

class _StopForward(Exception):
    """Raised from a hook to end the forward once every selected layer has run."""


class _Call:
    """One forward's captures: the tensors, what each came from, and the versions to verify.

    ``copy``: keys copied at hook time (None: every key); ``copy_modules``: module names whose
    outputs are copied; ``hold``: keep the originals of copied outputs to the end, to learn
    exactly which were written (the rerun); ``learner``: the learning call's
    :class:`~layerscope.capturing.plan.Learner`. Otherwise copied originals are let go, as plain
    hooks would.
    """

    __slots__ = ("tensors", "origin", "watch", "calls", "skipped", "copied", "copy", "copy_modules", "hold",
                 "learner", "grad", "offload", "dtype", "plain")

    def __init__(self, copy: Optional[frozenset], copy_modules: frozenset, hold: bool, grad: bool, offload, dtype,
                 learn: bool = False):
        self.tensors: dict[str, torch.Tensor] = {}
        self.origin: dict[str, tuple[str, nn.Module, int, str]] = {}
        self.watch: list[tuple[str, torch.Tensor, int]] = []
        self.calls: dict[str, int] = {}
        self.skipped: dict[str, tuple[str, ...]] = {}
        self.copied: set[str] = set()
        self.copy, self.copy_modules, self.hold = copy, copy_modules, hold
        self.learner = Learner(self.tensors, self.copied) if learn else None
        self.grad, self.offload, self.dtype = grad, offload, dtype
        # the common call: a plan to follow, captures kept as they are (the fast path of add)
        self.plain = copy is not None and not (learn or hold or copy_modules or grad or offload or dtype)

    def add(self, name: str, module: nn.Module, output: Any) -> None:
        if (
            self.plain and type(output) is torch.Tensor and name and name not in self.calls
            and name not in self.copy and name not in self.tensors and not output.requires_grad
            and not output.is_inference()
        ):  # once per hooked module: the usual case, kept short (a tensor, not copied, verified by its version)
            self.calls[name] = 1
            self.tensors[name] = output
            self.watch.append((name, output, output._version))
            self.origin[name] = (name, module, 0, "")
            return
        index = self.calls.get(name, 0)
        self.calls[name] = index + 1
        base = (name or "output") if index == 0 else f"{name or 'output'}#{index}"
        if type(output) is torch.Tensor:  # the common case, kept short: this runs once per hooked module
            leaves: Any = (("", output),)
        else:
            leaves, skipped = flatten_output(output)
            if skipped:
                self.skipped[base] = tuple(skipped)
        for suffix, tensor in leaves:
            key = base + suffix if suffix else base
            if key in self.tensors:
                raise _collision(key, self.origin[key][0], name)
            self.tensors[key] = kept = self._keep(key, name, tensor)
            if self.learner is not None and not tensor.is_inference():
                if key in self.copied:
                    self.learner.follow(key, tensor)
                elif kept.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr():
                    self.learner.expose(key, kept)  # not an offload copy: an in-place module could write it
            self.origin[key] = (name, module, index, suffix)

    def _keep(self, key: str, name: str, tensor: torch.Tensor) -> torch.Tensor:
        value = tensor.detach() if tensor.requires_grad and not self.grad else tensor
        if self.offload is not None or self.dtype is not None:
            cast = self.dtype if self.dtype is not None and value.is_floating_point() else None
            moved = value.to(device=self.offload, dtype=cast)
            if moved.untyped_storage().data_ptr() != value.untyped_storage().data_ptr():
                return moved  # a copy already: nothing later can write to it
            value = moved
        copy = self.copy
        if copy is None or key in copy or name in self.copy_modules:
            self.copied.add(key)
            if self.hold and not value.is_inference():
                self.watch.append((key, value, value._version))
            return value.clone()
        if value.is_inference():  # no version counter to verify with: copy it
            self.copied.add(key)
            return value.clone()
        self.watch.append((key, value, value._version))
        return value

    def written(self) -> frozenset:
        """Keys whose output tensor was written in place after its hook ran (of those watched)."""
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

    The layers are resolved, and the model walked, when the Recorder is made; the first
    ``with`` block uses that walk (every later one checks it again), so change or move the
    model before making a Recorder, not between making it and entering it.
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
        self._walked: Optional[Anatomy] = anatomy(model)  # serves the first `with` block (then walked again)
        self._modules = selected_modules(model, layers, self._walked)
        self.names = list(self._modules)
        self.offload = check_device(offload)
        self.dtype = check_dtype(dtype)
        self.stop_early = bool(stop_early)
        self.grad = bool(grad)
        self.restore_buffers = bool(restore_buffers)
        self.reruns = 0  # forwards run again because a capture was overwritten unforeseen
        self._state: Optional[ModelState] = None
        self._call: Optional[_Call] = None
        self._plan_key = (tuple(self.names), self.offload, self.dtype, self.grad, self.stop_early)
        self._plan: Optional[frozenset] = None
        self._options = (self.grad, self.offload, self.dtype)
        self._tokens: dict[tuple[int, int], Optional[TokenGeometry]] = {}  # the model's token geometry per input size

    # -- lifetime ---------------------------------------------------------------------------------
    def __enter__(self) -> "Recorder":
        if self._state is not None:
            raise InputError("This Recorder is already active; use one `with` block at a time.")
        body, self._walked = self._walked, None
        state = ModelState(self.model, restore_buffers=self.restore_buffers, body=body).__enter__()
        try:
            for name, module in self._modules.items():
                state.hook(module, self._make_hook(name))
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
        """The keys copied at hook time on the next call (None: not learned yet).

        A Recorder keeps the plan it learned; a new one starts from the plan cached for the model.
        """
        if self._plan is None:
            self._plan = cached(self.model, self._plan_key)
        return self._plan

    def __call__(self, inputs: Any) -> Activations:
        if self._state is None:
            raise InputError("Recorder is not active: use `with Recorder(model, layers) as rec: rec(x)`.")
        inputs = move_inputs(inputs, *self._state.device())
        plan = self.plan
        if plan is None:  # learn: copy the predicted outputs and confirm them, verify the rest
            predicted = known(self.model, self.names)
            acts = self._run(inputs, _Call(frozenset(), predicted, False, *self._options, learn=True))
        else:
            acts = self._run(inputs, _Call(plan, frozenset(), False, *self._options))
        if acts is None:  # a write nobody foresaw: run again, copying (and learning) everything
            self.reruns += 1
            acts = self._run(inputs, _Call(None, frozenset(), True, *self._options))
        return acts

    def _run(self, inputs: Any, call: _Call) -> Optional[Activations]:
        self._call = call
        output = None
        learner = call.learner
        following = learner.following(self._state.body.inplace()) if learner is not None else contextlib.nullcontext()
        try:
            with self._state.forward(), following, torch.inference_mode(False), torch.set_grad_enabled(self.grad):
                try:
                    output = call_model(self.model, inputs, grad=self.grad)
                except _StopForward:
                    output = None
                written = call.written()  # before the buffers are put back (a capture may be a buffer)
        finally:
            self._call = None
        if written - call.copied:  # a capture that was not copied changed after its hook: it is wrong
            return None
        if call.hold or call.learner is not None:
            self._plan = written | (call.learner.written if call.learner is not None else frozenset())
            remember(self.model, self._plan_key, self._plan)
        protected = self._plan.intersection(call.tensors)
        return Activations(call.tensors, self._info(call), _detach(output, self.grad), call.skipped, protected,
                           self._geometry(inputs))

    def _geometry(self, inputs: Any) -> Optional[TokenGeometry]:
        """The model's token geometry for the size of the images in ``inputs`` (read once per size)."""
        size = image_size_of(inputs)
        if size is None:
            return None
        if size not in self._tokens:
            self._tokens[size] = token_geometry(self.model, size)
        return self._tokens[size]

    def _info(self, call: _Call) -> dict[str, LayerInfo]:
        keys = tuple(call.origin)
        kept = self._state.body.infos  # the same captures of the same tree have the same metadata
        if not call.skipped and keys in kept:
            return dict(kept[keys])
        infos = {}
        for key, (name, module, index, suffix) in call.origin.items():
            skipped = call.skipped.get(key[: len(key) - len(suffix)], ())
            infos[key] = LayerInfo(key, name, type(module).__name__, index, suffix, skipped)
        if not call.skipped:
            if len(kept) >= 64:  # many layer sets in turn (an explorer): keep the latest
                kept.clear()
            kept[keys] = infos
        return dict(infos)


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
