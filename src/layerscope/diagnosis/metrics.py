"""What the diagnosis reads from the modules themselves: clamp bounds, and whether "never positive" means dead.

>>> import torch
>>> from torch import nn
>>> activation_bounds(nn.Sigmoid()), activation_bounds(nn.ReLU())
((0.0, 1.0), None)
>>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
>>> [rectified(net, name) for name in ("0", "1", "2", "3", "")]
[False, False, True, True, None]
>>> with torch.no_grad():
...     _ = net[1].bias.copy_(torch.tensor([0.0, -1.0, -5.0, 2.0])), net[1].running_var.fill_(2.0)  # trained
>>> expected_firing(net, "2").round(decimals=4).tolist()  # Phi(beta / |gamma|) per channel
[0.5, 0.1587, 0.0, 0.9772]

The measurements of the maps (noise score, spatial variance, peaks, effective rank) are in
:mod:`layerscope.stats.maps`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

__all__ = ["activation_bounds", "rectified", "expected_firing"]

_RECTIFIERS = ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU")  # zero (or near it) for negative input
_NORMS = ("BatchNorm", "GroupNorm", "LayerNorm", "InstanceNorm", "LocalResponseNorm", "RMSNorm")

_BOUNDS: dict[str, tuple[Optional[float], float]] = {
    "Hardsigmoid": (None, 1.0),
    "Sigmoid": (0.0, 1.0),
    "Tanh": (-1.0, 1.0),
    "Softsign": (-1.0, 1.0),
}


def activation_bounds(module: Optional[nn.Module]) -> Optional[tuple[Optional[float], float]]:
    """The (lower, upper) bounds an activation module clamps to, else None.

    A hard lower bound of 0 (ReLU6, Hardsigmoid) is given as None: sitting there is
    being inactive (see dead), not saturated. Sigmoid / Tanh bounds are approached,
    so values within the tolerance count as on the bound.

    >>> activation_bounds(nn.Hardtanh(-2, 2)), activation_bounds(nn.ReLU6()), activation_bounds(nn.Conv2d(1, 1, 1))
    ((-2.0, 2.0), (None, 6.0), None)
    """
    if module is None:
        return None
    if _is_norm(module) and isinstance(getattr(module, "act", None), nn.Module):  # timm's BatchNormAct2d
        module = module.act
    if isinstance(module, nn.Hardtanh):  # ReLU6 is a Hardtanh(0, 6)
        low = float(module.min_val)
        return (None if low == 0 else low), float(module.max_val)
    return _BOUNDS.get(type(module).__name__)


def _is_norm(module: nn.Module) -> bool:
    return any(word in type(module).__name__ for word in _NORMS)


def _is_rectifier(module: Optional[nn.Module]) -> bool:
    if module is None:
        return False
    if isinstance(module, nn.Hardtanh):
        return float(module.min_val) == 0.0
    return type(module).__name__ in _RECTIFIERS


def rectified(model: nn.Module, name: str, modules: Optional[dict[str, nn.Module]] = None) -> Optional[bool]:
    """Whether a channel of this layer that is never positive is dead (outputs zero after rectification).

    True for rectifier outputs (ReLU, ReLU6, a norm layer with a ReLU inside such as timm's
    ``BatchNormAct2d``) and for single modules that feed one (the default when nothing says
    otherwise: the value a following ReLU sees). False for normalization outputs without a rectifier
    and for modules whose next sibling is a normalization, which re-centres the values before any
    ReLU: a depthwise convolution's all-negative channel before BatchNorm is not dead. None for a
    block (a module with children: a residual block, a stage) whose last operation the module tree
    does not tell; :func:`layerscope.diagnose` then takes it as rectified when its outputs are never
    negative. ``modules``: ``dict(model.named_modules())`` when the caller has it (one walk for every layer).
    """
    modules = modules if modules is not None else dict(model.named_modules())
    module = modules.get(name)
    if module is None:
        return True
    if _is_rectifier(module):
        return True
    if _is_norm(module):
        return _is_rectifier(getattr(module, "act", None))
    if any(True for _ in module.children()):
        return None
    parent_name, _, child = name.rpartition(".")
    siblings = list(modules[parent_name].named_children()) if parent_name in modules else []
    names = [n for n, _ in siblings]
    if child not in names or names.index(child) + 1 >= len(names):
        return True
    return not _is_norm(siblings[names.index(child) + 1][1])


def _feeding_norm(modules: dict[str, nn.Module], name: str) -> Optional[nn.Module]:
    """The BatchNorm whose output this layer rectifies: the layer itself (a norm with a rectifier inside,
    timm's ``BatchNormAct2d``), or the sibling just before a rectifier module; else None."""
    module = modules.get(name)
    if module is None:
        return None
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return module if _is_rectifier(getattr(module, "act", None)) else None
    if not _is_rectifier(module):
        return None
    parent_name, _, child = name.rpartition(".")
    siblings = list(modules[parent_name].named_children()) if parent_name in modules else []
    names = [n for n, _ in siblings]
    if child not in names or names.index(child) == 0:
        return None
    before = siblings[names.index(child) - 1][1]
    return before if isinstance(before, nn.modules.batchnorm._BatchNorm) else None


def expected_firing(model: nn.Module, name: str, modules: Optional[dict[str, nn.Module]] = None) -> Optional[np.ndarray]:
    """Per channel, the share of positions where this rectified layer fires on the data its BatchNorm
    was trained on, read from the BatchNorm alone: ``Phi(beta / |gamma|)``.

    In eval mode a BatchNorm maps its training inputs to (about) ``N(beta, gamma²)`` per channel, so the
    rectifier after it passes a share ``Phi(beta / |gamma|)`` of them. A channel that was silent on
    the inputs at hand but has a sizeable expected share is *selective* (those inputs do not contain
    what it detects), not dead; one whose expected share is ~0 never fired in training either.
    None when no trained BatchNorm feeds the layer (no running statistics, or still at their
    initial values: then nothing is known about the training data). ``modules``: ``dict(model.named_modules())``
    when the caller has it (one walk for every layer).
    """
    norm = _feeding_norm(modules if modules is not None else dict(model.named_modules()), name)
    if norm is None or norm.running_mean is None or not norm.affine:
        return None
    tracked = getattr(norm, "num_batches_tracked", None)
    at_init = (bool((norm.running_mean == 0).all()) and bool((norm.running_var == 1).all())
               and (tracked is None or int(tracked) == 0))
    if at_init:
        return None
    gamma = norm.weight.detach().to("cpu", torch.float64).abs().clamp_min(1e-12)
    beta = norm.bias.detach().to("cpu", torch.float64)
    return torch.special.ndtr(beta / gamma).numpy()
