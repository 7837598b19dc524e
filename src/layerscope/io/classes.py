"""Class names of a classifier and its top predictions, for people ("tabby 0.42, tiger cat 0.25").

>>> import torch
>>> top_classes(torch.tensor([[0.0, 2.0, 1.0]]), ("cat", "dog", "bird"), k=2)
[[('dog', 0.665), ('bird', 0.245)]]
>>> describe_predictions([("dog", 0.665), ("bird", 0.245)])
'dog 0.67, bird 0.24'
>>> top_classes(torch.zeros(1, 4, 2, 2), ("a", "b", "c", "d")) is None  # not class scores
True
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional, Sequence

import torch

__all__ = ["imagenet_classes", "class_scores", "top_classes", "describe_predictions", "Predictions"]

Predictions = list[tuple[str, float]]  # (class name, probability), most probable first


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (nothing is downloaded).

    >>> names = imagenet_classes()
    >>> len(names), names[285], names[967]
    (1000, 'Egyptian cat', 'espresso')
    """
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def class_scores(output: Any) -> Optional[torch.Tensor]:
    """The (N, classes) tensor of a model output (itself, a ``logits`` attribute or entry), else None."""
    if isinstance(output, dict):
        output = output.get("logits", output.get("out"))
    elif hasattr(output, "logits"):
        output = output.logits
    if isinstance(output, torch.Tensor) and output.dim() == 2 and output.shape[1] >= 2 and output.is_floating_point():
        return output
    return None


def top_classes(output: Any, classes: Optional[Sequence[str]], k: int = 3) -> Optional[list[Predictions]]:
    """The ``k`` most probable classes (softmax) of each input, with probabilities rounded to 3 digits.

    None when ``classes`` is unknown or ``output`` is not ``(N, len(classes))`` class scores.
    """
    scores = class_scores(output)
    if not classes or scores is None or scores.shape[1] != len(classes):
        return None
    probs = scores.detach().float().softmax(-1).cpu()
    top = probs.topk(min(k, probs.shape[1]), dim=-1)
    return [[(classes[i], round(float(p), 3)) for p, i in zip(row_p, row_i)]
            for row_p, row_i in zip(top.values.tolist(), top.indices.tolist())]


def describe_predictions(predictions: Optional[Predictions]) -> str:
    """One line: ``name p, name p, ...`` (empty without predictions)."""
    return ", ".join(f"{name} {p:.2f}" for name, p in predictions or [])
