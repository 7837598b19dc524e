"""Channel importance for ``layerscope show``: each layer's grid in importance order, and the Grad-CAM style heat map.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
>>> ranked = rank_batch(model, torch.rand(2, 3, 8, 8), ["0"], target=1, top_k=2)
>>> tuple(ranked.order["0"].shape), tuple(ranked.heat["0"].shape), ranked.target
((2, 4), (2, 6, 6), [1, 1])
>>> rank_batch(model, torch.rand(2, 3, 8, 8), ["0"], target=lambda out: out[:, 0] - out[:, 1]).target
['target function <lambda>', 'target function <lambda>']

The order of a layer is the argsort (highest first, ties in channel order) of
:func:`~layerscope.explain.attribution` (gradient x activation summed over space) for the target
class (or any target of :mod:`~layerscope.explain.targets`); the heat map is
``ReLU(sum over the top_k channels of weight_c * map_c)`` with the Grad-CAM weights (the gradient's
mean over space), i.e. :meth:`Importance.heatmap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch

from ..errors import InputError, did_you_mean
from .attribution import importance
from .targets import Class, class_index

__all__ = ["RANKS", "Ranked", "class_index", "rank_batch"]  # class_index: from .targets, its home

RANKS = ("importance",)  # what show's rank= accepts besides None


@dataclass
class Ranked:
    """One batch's importance per layer: channel order ``[N, C]``, heat map ``[N, h, w]``; per input the class
    (an int) or, for other targets, what was explained (a str)."""

    order: dict[str, torch.Tensor]
    heat: dict[str, torch.Tensor]
    target: list[Union[int, str]]


def check_rank(rank: Optional[str]) -> Optional[str]:
    """``None`` or one of :data:`RANKS`; anything else is an InputError with the choices."""
    if rank is None or rank in RANKS:
        return rank
    raise InputError(f"Unknown rank {rank!r}.{did_you_mean(str(rank), RANKS)} Rank channels by: {', '.join(RANKS)} "
                     "(CLI: --rank importance), or order them by their maps with order= (--order).")


def rank_batch(model: Any, batch: torch.Tensor, layers: Sequence[str], *, target: Any = None,
               top_k: Optional[int] = None, layouts: Optional[dict[str, str]] = None) -> Ranked:
    """Importance of ``layers`` for ``target`` (None: each input's top prediction; any target
    :func:`~layerscope.explain.targets.as_target` takes) on one ``batch``, one backward."""
    result = importance(model, batch, list(layers), target=target, layouts=layouts)
    order = {name: torch.sort(result[name], dim=1, descending=True, stable=True).indices for name in result}
    heat = {name: result.heatmap(name, top_k) for name in result}
    chosen = result.target.tolist() if isinstance(result.goal, Class) else [result.goal.describe()] * len(result.value)
    return Ranked(order, heat, chosen)
