"""What a classifier predicts, with class names where the model's metadata has them.

>>> import torch
>>> top_predictions(torch.tensor([[0.0, 2.0, 1.0]]), ["cat", "dog", "fox"], k=2)
[[('dog', 0.665), ('fox', 0.245)]]
>>> top_predictions(torch.zeros(2, 3, 4, 4)) is None  # not a classifier's output
True
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

__all__ = ["top_predictions", "class_names", "predictions_of"]


def predictions_of(loaded: Any, output: Any, k: int = 5) -> Optional[list[list[tuple[str, float]]]]:
    """A :class:`~layerscope.io.LoadedModel`'s top-``k`` predictions for ``output``: its own
    ``predictions`` method when it has one and knows the class names, else :func:`top_predictions`
    (class names from builtin or torchvision metadata, or ``class i``)."""
    own = getattr(loaded, "predictions", None)
    named = own(output, k) if callable(own) else None
    return named if named is not None else top_predictions(output, class_names(loaded), k)


def top_predictions(output: Any, classes: Optional[Sequence[str]] = None, k: int = 5) -> Optional[list[list[tuple[str, float]]]]:
    """Per input, the ``k`` most likely classes as ``(name, probability)``; None unless ``output`` is an
    ``(N, K)`` float tensor with K >= 2 (scores are soft-maxed unless they already are probabilities)."""
    if not isinstance(output, torch.Tensor) or output.dim() != 2 or output.shape[1] < 2 or not output.is_floating_point():
        return None
    scores = output.detach().float().cpu()
    is_probability = bool((scores >= 0).all() and (scores <= 1).all() and torch.allclose(scores.sum(1), torch.ones(len(scores)), atol=1e-3))
    probs = scores if is_probability else torch.softmax(scores, dim=1)
    probs = torch.nan_to_num(probs, nan=0.0)
    names = list(classes) if classes is not None and len(classes) == scores.shape[1] else None
    values, index = probs.topk(min(k, scores.shape[1]), dim=1)
    return [
        [(names[i] if names else f"class {i}", round(float(p), 3)) for p, i in zip(row_p.tolist(), row_i.tolist())]
        for row_p, row_i in zip(values, index)
    ]


def class_names(loaded: Any) -> Optional[list[str]]:
    """The class names of a :class:`~layerscope.io.LoadedModel`: its own ``classes`` if it has them, a
    builtin model's, or the categories of torchvision weights; None when unknown."""
    own = getattr(loaded, "classes", None)
    if own:
        return [str(c) for c in own]
    spec, weights = str(getattr(loaded, "spec", "")), getattr(loaded, "weights", None)
    if spec.startswith("builtin:") and weights:
        from ..zoo import builtin_info

        try:
            return [str(c) for c in builtin_info(spec.split(":")[1]).classes]
        except Exception:  # a builtin without class metadata
            return None
    if spec.startswith("torchvision:") and weights:
        from torchvision.models import get_weight

        try:
            return [str(c) for c in get_weight(str(weights)).meta.get("categories") or []] or None
        except (ValueError, KeyError, AttributeError):
            return None
    return None
