"""Forward hooks with an owned lifetime: the engine behind :func:`layerscope.capture`.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True))
>>> with Recorder(model, "0") as rec:
...     acts = rec(torch.randn(1, 3, 8, 8))
>>> bool((acts["0"] < 0).any())  # the conv output, not the ReLU'd tensor
True
>>> model[0]._forward_hooks
OrderedDict()
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn

from ..errors import ForwardError, InputError, LayerscopeError
from .activations import Activations, LayerInfo
from .flatten import flatten_output
from .hookable import ensure_hookable
from .protect import WriteGuard, storage_key
from .select import LayerSelector, select_layers

__all__ = ["Recorder", "model_device", "call_model"]


class _StopForward(Exception):
    """Raised from a hook to end the forward once every selected layer has run."""


def model_device(model: nn.Module) -> tuple[torch.device, Optional[torch.dtype]]:
    """Device and floating dtype of the first parameter (or buffer); CPU and None if there is none."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device, tensor.dtype if tensor.is_floating_point() else None
    return torch.device("cpu"), None


def _move(value: Any, device: torch.device, dtype: Optional[torch.dtype]) -> Any:
    """Tensors (and numpy arrays, made tensors) moved to ``device``, floating ones cast to ``dtype``."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, torch.Tensor):
        cast = dtype if dtype is not None and value.is_floating_point() else None
        return value.to(device=device, dtype=cast)
    if isinstance(value, dict):
        return {k: _move(v, device, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_move(v, device, dtype) for v in value)
    return value


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}, dtype {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    return type(value).__name__


def call_model(model: nn.Module, inputs: Any) -> Any:
    """``model(**inputs)`` for a dict, ``model(*inputs)`` for a tuple, else ``model(inputs)``.

    An exception from the model's forward becomes a :class:`ForwardError` naming the input.
    """
    try:
        if isinstance(inputs, dict):
            return model(**inputs)
        if isinstance(inputs, tuple) and not hasattr(inputs, "_fields"):
            return model(*inputs)
        return model(inputs)
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as err:
        if isinstance(err, LayerscopeError):
            raise
        raise ForwardError(
            f"The model's forward raised {type(err).__name__} on the input ({_describe(inputs)}): {err}. "
            "Check the input's size, channels and batch dimension (CLI: --size / --input-size / "
            "--grayscale; Python: the model's preprocessing, e.g. layerscope.load_model(spec).preprocess)."
        ) from err


def _device(value: Any) -> Optional[torch.device]:
    if value is None:
        return None
    try:
        return torch.device(value)
    except (RuntimeError, TypeError):
        raise InputError(f"offload={value!r} is not a torch device; use e.g. 'cpu' or 'cuda:0'.") from None


def _dtype(value: Any) -> Optional[torch.dtype]:
    if value is None or isinstance(value, torch.dtype):
        return value
    candidate = getattr(torch, str(value).replace("torch.", ""), None)
    if isinstance(candidate, torch.dtype):
        return candidate
    raise InputError(f"dtype={value!r} is not a torch dtype; use e.g. torch.float16 or 'float16'.")


class _Call:
    """State of one forward: what was captured so far."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.info: dict[str, LayerInfo] = {}
        self.skipped: dict[str, tuple[str, ...]] = {}
        self.calls: dict[str, int] = {}
        self.versions: dict[str, int] = {}
        self.protected: set[str] = set()


class Recorder:
    """Context manager that records the outputs of selected layers on every forward it runs.

    On enter it resolves ``layers`` (see :func:`select_layers`), puts the model in
    eval mode and registers one forward hook per selected module; on exit it
    removes every hook and restores each module's ``training`` flag, also when a
    forward raised. Each call ``rec(inputs)`` runs the model under ``no_grad`` and
    returns a fresh :class:`Activations`; nothing is kept between calls.

    ``inputs`` is passed as one positional argument, a tuple is unpacked into
    positional arguments and a dict into keyword arguments. Tensors are moved to
    the model's device (floating ones to its dtype). ``offload="cpu"`` copies each
    capture to that device as it is taken (for big models on GPU); ``dtype``
    casts floating captures. ``stop_early=True`` ends the forward once every
    selected module has run once (the model output is then ``None``).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: LayerSelector = None,
        *,
        offload: Any = None,
        dtype: Optional[torch.dtype] = None,
        stop_early: bool = False,
    ) -> None:
        self.model = ensure_hookable(model)
        self.names = select_layers(model, layers)
        self.offload = _device(offload)
        self.dtype = _dtype(dtype)
        self.stop_early = stop_early
        self._handles: list = []
        self._modes: dict[nn.Module, bool] = {}
        self._call: Optional[_Call] = None
        self._guard: Optional[WriteGuard] = None

    # -- lifetime ---------------------------------------------------------------------------------
    def __enter__(self) -> "Recorder":
        if self._handles:
            raise InputError("This Recorder is already active; use one `with` block at a time.")
        self._modes = {m: m.training for m in self.model.modules()}
        try:
            self.model.eval()
            modules = dict(self.model.named_modules(remove_duplicate=False))
            for name in self.names:
                hook = self._make_hook(name)
                self._handles.append(modules[name].register_forward_hook(hook))
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._release()

    def _release(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for module, training in self._modes.items():
            module.training = training
        self._modes.clear()

    # -- recording ------------------------------------------------------------------------------------
    def _protect(self, keys: list[str]) -> None:
        call = self._call
        if call is None:
            return
        for key in keys:
            if key in call.tensors and key not in call.protected:
                call.tensors[key] = call.tensors[key].clone()
                call.protected.add(key)

    def _make_hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            call = self._call
            if call is None:  # the model was called directly inside the `with` block
                return None
            index = call.calls.get(name, 0)
            call.calls[name] = index + 1
            base = (name or "output") if index == 0 else f"{name or 'output'}#{index}"
            leaves, skipped = flatten_output(output)
            if skipped:
                call.skipped[base] = tuple(skipped)
            for suffix, tensor in leaves:
                self._keep(call, base + suffix, name, module, index, suffix, tensor, tuple(skipped))
            if self.stop_early and len(call.calls) == len(self.names):
                raise _StopForward
            return None

        return hook

    def _keep(self, call, key, name, module, index, suffix, tensor, skipped) -> None:
        value = tensor.detach()
        if self.offload is not None or self.dtype is not None:
            cast = self.dtype if self.dtype is not None and value.is_floating_point() else None
            value = value.to(device=self.offload, dtype=cast)
        if storage_key(value) == storage_key(tensor) and storage_key(value) is not None:
            self._guard.watch(value, key)
            if not value.is_inference():
                call.versions[key] = value._version
        call.tensors[key] = value
        call.info[key] = LayerInfo(
            name=key,
            module=name,
            module_type=type(module).__name__,
            call_index=index,
            output_path=suffix,
            shape=tuple(value.shape),
            dtype=str(value.dtype),
            device=str(value.device),
            skipped=skipped,
        )

    def __call__(self, inputs: Any) -> Activations:
        if not self._handles and self.names:
            raise InputError("Recorder is not active: use `with Recorder(model, layers) as rec: rec(x)`.")
        device, dtype = model_device(self.model)
        inputs = _move(inputs, device, dtype)
        call = self._call = _Call()
        self._guard = WriteGuard(self._protect)
        output = None
        try:
            with torch.inference_mode(False), torch.no_grad(), self._guard:
                try:
                    output = call_model(self.model, inputs)
                except _StopForward:
                    output = None
            self._check_untouched(call)
        finally:
            self._call = None
            self._guard.clear()
            self._guard = None
        info = {k: _mark(call.info[k], k in call.protected) for k in call.tensors}
        return Activations(call.tensors, info, _detach(output), call.skipped)

    def _check_untouched(self, call: _Call) -> None:
        """Safety net: a capture whose version moved without the guard seeing a write is unreliable."""
        for key, version in call.versions.items():
            if key not in call.protected and call.tensors[key]._version != version:
                raise RuntimeError(
                    f"layerscope internal error: the output of {key!r} was modified in place by an "
                    "operation that bypassed the dispatcher; its captured value is not trustworthy. "
                    "Please report this with the model definition."
                )


def _mark(info: LayerInfo, protected: bool) -> LayerInfo:
    if not protected:
        return info
    from dataclasses import replace

    return replace(info, protected=True)


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return type(value)((k, _detach(v)) for k, v in value.items()) if type(value) is dict else value
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_detach(v) for v in value)
    return value
