"""List a model's layers: dotted name, type, output shape and parameter count, in execution order.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
>>> [(row.name, row.type, row.shape) for row in list_layers(model, torch.zeros(1, 1, 5, 5))]
[('0', 'Conv2d', (1, 2, 3, 3)), ('1', 'ReLU', (1, 2, 3, 3))]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn as nn

from .call import call_model, model_device, move_inputs
from .flatten import flatten_output
from .hookable import ensure_hookable
from .state import ModelState

__all__ = ["LayerRow", "LayerTable", "list_layers"]


@dataclass(frozen=True)
class LayerRow:
    """One module: ``shape`` is its (first) output's shape, None if it did not run or returned no tensor."""

    name: str
    type: str
    depth: int
    params: int
    shape: Optional[tuple[int, ...]] = None
    calls: int = 0
    leaf: bool = True

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["shape"] = list(self.shape) if self.shape is not None else None
        return data


class LayerTable(list):
    """A list of :class:`LayerRow` that prints as an aligned table."""

    def __str__(self) -> str:
        if not self:
            return "(no layers)"
        name_w = max(len("  " * r.depth + r.name) for r in self)
        type_w = max(len(r.type) for r in self)
        lines = [f"{'layer':<{name_w}}  {'type':<{type_w}}  {'output shape':<22} {'params':>10}"]
        for r in self:
            shape = "x".join(map(str, r.shape)) if r.shape is not None else ("-" if r.calls else "(not run)")
            calls = f"  x{r.calls} calls" if r.calls > 1 else ""
            lines.append(f"{'  ' * r.depth + r.name:<{name_w}}  {r.type:<{type_w}}  {shape:<22} {r.params:>10,}{calls}")
        return "\n".join(lines)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self]


def _own_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def list_layers(model: nn.Module, example_input: Any = None, *, leaves_only: bool = False) -> LayerTable:
    """Every named submodule with type, depth and parameter count (its own, not its children's).

    With ``example_input`` (any model input: a tensor, a tuple, a dict or
    :class:`~layerscope.Args`) the model runs once (eval mode, ``no_grad``; modes,
    hooks and buffers restored afterwards) and rows come in execution order with output shapes and
    call counts; modules that never ran come last. Without it, rows follow
    ``named_modules`` order and have no shapes.
    """
    ensure_hookable(model)
    named = [(n, m) for n, m in model.named_modules() if n]
    if leaves_only:
        named = [(n, m) for n, m in named if next(m.children(), None) is None]
    if example_input is None:
        return LayerTable(_row(n, m) for n, m in named)
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    calls: dict[str, int] = {}

    def pre_hook(name):
        def hook(module, args):
            if name not in calls:
                order.append(name)
            calls[name] = calls.get(name, 0) + 1

        return hook

    def post_hook(name):
        def hook(module, args, output):
            if name not in shapes:
                leaves, _ = flatten_output(output)
                if leaves:
                    shapes[name] = tuple(leaves[0][1].shape)

        return hook

    with ModelState(model) as state:
        for name, module in named:
            state.hook(module, pre_hook(name), pre=True)
            state.hook(module, post_hook(name))
        inputs = move_inputs(example_input, *model_device(model))
        with state.forward(), torch.inference_mode(False), torch.no_grad():
            call_model(model, inputs)
    modules = dict(named)
    ran = [_row(n, modules[n], shapes.get(n), calls.get(n, 0)) for n in order]
    not_run = [_row(n, m) for n, m in named if n not in calls]
    return LayerTable(ran + not_run)


def _row(name: str, module: nn.Module, shape=None, calls: int = 0) -> LayerRow:
    return LayerRow(
        name=name,
        type=type(module).__name__,
        depth=name.count("."),
        params=_own_params(module),
        shape=shape,
        calls=calls,
        leaf=next(module.children(), None) is None,
    )
