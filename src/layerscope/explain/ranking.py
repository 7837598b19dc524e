"""Channel importance for ``layerscope show``: each layer's grid in importance order, and the Grad-CAM style heat map.

>>> class_index("3", None), class_index(None, ("cat", "dog")), class_index("dog", ("cat", "dog"))
(3, None, 1)
>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
>>> ranked = rank_batch(model, torch.rand(2, 3, 8, 8), ["0"], target=1, top_k=2)
>>> tuple(ranked.order["0"].shape), tuple(ranked.heat["0"].shape), ranked.target
((2, 4), (2, 6, 6), [1, 1])

The order of a layer is the argsort (highest first, ties in channel order) of
:func:`~layerscope.explain.attribution` (gradient x activation summed over space) for the target
class; the heat map is ``ReLU(sum over the top_k channels of weight_c * map_c)`` with the
Grad-CAM weights (the gradient's mean over space), i.e. :meth:`Importance.heatmap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch

from ..errors import InputError, did_you_mean
from .attribution import importance

__all__ = ["RANKS", "Ranked", "class_index", "rank_batch"]

RANKS = ("importance",)  # what show's rank= accepts besides None


@dataclass
class Ranked:
    """One batch's importance per layer: channel order ``[N, C]``, heat map ``[N, h, w]``; the class per input."""

    order: dict[str, torch.Tensor]
    heat: dict[str, torch.Tensor]
    target: list[int]


def check_rank(rank: Optional[str]) -> Optional[str]:
    """``None`` or one of :data:`RANKS`; anything else is an InputError with the choices."""
    if rank is None or rank in RANKS:
        return rank
    raise InputError(f"Unknown rank {rank!r}.{did_you_mean(str(rank), RANKS)} Rank channels by: {', '.join(RANKS)} "
                     "(CLI: --rank importance), or order them by their maps with order= (--order).")


def class_index(target: Union[None, int, str], classes: Optional[Sequence[str]]) -> Optional[int]:
    """The class index ``target`` names: an index (int or digits) or, when ``classes`` are known, a class name.

    ``None`` stays None (each input's top prediction).
    """
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise InputError(f"target must be a class index or a class name, got {target!r}.")
    text = str(target).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if index < 0 or (classes and index >= len(classes)):
            upper = f"0..{len(classes) - 1}" if classes else "a class index >= 0"
            raise InputError(f"target {index} is not a class of this model; give {upper}, or leave it out for the "
                             "top prediction.")
        return index
    if not classes:
        raise InputError(f"target {text!r} is a class name, but this model's class names are unknown; give a "
                         "class index (e.g. --target 3), or leave it out for the top prediction.")
    if text in classes:
        return list(classes).index(text)
    raise InputError(f"target {text!r} is not one of this model's {len(classes)} classes."
                     f"{did_you_mean(text, classes)} Give a class name (e.g. {classes[0]!r}) or an index "
                     f"0..{len(classes) - 1}.")


def rank_batch(model: Any, batch: torch.Tensor, layers: Sequence[str], *, target: Optional[int] = None,
               top_k: Optional[int] = None, layouts: Optional[dict[str, str]] = None) -> Ranked:
    """Importance of ``layers`` for ``target`` (None: each input's top prediction) on one ``batch``, one backward."""
    result = importance(model, batch, list(layers), target=target, layouts=layouts)
    order = {name: torch.sort(result[name], dim=1, descending=True, stable=True).indices for name in result}
    heat = {name: result.heatmap(name, top_k) for name in result}
    return Ranked(order, heat, result.target.tolist())
