"""Can forward hooks see a module's layers? Not in TorchScript, nor in a flat torch.export graph.

>>> import torch.nn as nn
>>> why_not_hookable(nn.Conv2d(1, 1, 1)) is None
True

Capture works by forward hooks on submodules. A TorchScript module refuses
hooks; ``ExportedProgram.module()`` runs every layer as graph ops, so hooks on
its submodules never fire (layerscope loads ``.pt2`` files with
``torch.export.unflatten`` instead, which keeps one callable module per layer).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from ..errors import InputError

__all__ = ["why_not_hookable", "ensure_hookable", "TORCHSCRIPT_NOT_HOOKABLE"]

_WEIGHTS_INSTEAD = (
    "load the checkpoint's weights into the Python model instead: --checkpoint FILE with a model spec "
    "(Python: load_model(SPEC, checkpoint=FILE, trust_checkpoint=True))"
)
TORCHSCRIPT_NOT_HOOKABLE = f"TorchScript modules cannot be hooked; {_WEIGHTS_INSTEAD}"
_FLAT_GRAPH = (
    "This exported graph runs its layers as graph operations, so hooks on its submodules never fire; "
    f"unflatten it with torch.export.unflatten(exported_program), or {_WEIGHTS_INSTEAD}"
)


def _is_flat_graph(module: nn.Module) -> bool:
    """A torch.fx graph that reads parameters directly and calls no module that owns any."""
    if not isinstance(module, torch.fx.GraphModule):
        return False
    params = {name for name, _ in module.named_parameters()}
    nodes = list(module.graph.nodes)
    reads_params = any(n.op == "get_attr" and n.target in params for n in nodes)
    calls_owners = any(
        n.op == "call_module" and any(True for _ in module.get_submodule(n.target).parameters()) for n in nodes
    )
    return reads_params and not calls_owners


def why_not_hookable(module: nn.Module) -> Optional[str]:
    """Why forward hooks cannot capture ``module``'s layers (a message naming the fix), or None when they can."""
    if isinstance(module, torch.jit.ScriptModule):
        return TORCHSCRIPT_NOT_HOOKABLE
    if _is_flat_graph(module):
        return _FLAT_GRAPH
    return None


def ensure_hookable(module: object) -> nn.Module:
    """``module`` itself, or :class:`~layerscope.errors.InputError` when hooks cannot capture its layers.

    >>> type(ensure_hookable(nn.Sequential(nn.Conv2d(3, 4, 3)))).__name__
    'Sequential'
    """
    if not isinstance(module, nn.Module):
        raise InputError(f"Expected a torch.nn.Module, got {type(module).__name__}.")
    reason = why_not_hookable(module)
    if reason is not None:
        raise InputError(reason)
    return module
