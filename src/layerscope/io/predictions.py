"""What a classifier predicts, for people ("tabby 0.42, tiger cat 0.25"): the one rule every verb uses.

>>> import torch
>>> top_predictions(torch.tensor([[0.0, 2.0, 1.0]]), ("cat", "dog", "bird"), k=2)
[[('dog', 0.665), ('bird', 0.245)]]
>>> top_predictions(torch.tensor([[0.1, 0.9]]), ("cat", "dog"))  # already probabilities: used as they are
[[('dog', 0.9), ('cat', 0.1)]]
>>> describe_predictions([("dog", 0.665), ("bird", 0.245)])
'dog 0.67, bird 0.24'
>>> top_predictions(torch.zeros(1, 4, 2, 2), ("a", "b", "c", "d")) is None  # not class scores
True

``show``, ``diagnose``, ``report``, the explorer and the scan all call :func:`top_predictions`
(through :meth:`~layerscope.io.LoadedModel.predictions`), so the same model and image give the same
predictions everywhere. Outputs that are probabilities already (a model ending in ``Softmax``: every
row non-negative and summing to 1) are used as they are; anything else goes through a softmax.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

__all__ = ["class_scores", "probabilities", "top_predictions", "describe_predictions", "Predictions"]

Predictions = list[tuple[str, float]]  # (class name, probability), most probable first


def class_scores(output: Any) -> Optional[torch.Tensor]:
    """The (N, classes) tensor of a model output (itself, a ``logits`` attribute or entry), else None.

    Hugging Face outputs are dicts with ``logits``: a classifier's are (N, classes); a segmenter's
    (N, classes, h, w) and a detector's (N, queries, classes + 1) are no class scores of an input.

    >>> class_scores({"logits": torch.ones(2, 3)}).shape, class_scores({"logits": torch.ones(2, 3, 4, 4)})
    (torch.Size([2, 3]), None)
    """
    if isinstance(output, dict):
        output = output.get("logits", output.get("out"))
    elif hasattr(output, "logits"):
        output = output.logits
    if isinstance(output, torch.Tensor) and output.dim() == 2 and output.shape[1] >= 2 and output.is_floating_point():
        return output
    return None


def probabilities(scores: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(probabilities, were_already)``: float64 rows; a softmax unless every row already is a distribution.

    >>> probabilities(torch.tensor([[0.25, 0.75]]))[1], probabilities(torch.tensor([[2.0, -1.0]]))[1]
    (True, False)
    """
    values = scores.detach().to(torch.float64).cpu()
    rows = values.sum(1)
    already = bool(((values >= 0) & (values <= 1)).all() and torch.allclose(rows, torch.ones_like(rows), atol=1e-3))
    probs = values if already else values.softmax(1)
    return torch.nan_to_num(probs, nan=0.0), already


def top_predictions(output: Any, classes: Optional[Sequence[str]], k: int = 3) -> Optional[list[Predictions]]:
    """The ``k`` most probable classes of each input, probabilities rounded to 3 digits.

    None when ``output`` is not ``(N, classes)`` scores, or when ``classes`` is given and does not
    match their number; without ``classes`` the names are ``class i``.
    """
    scores = class_scores(output)
    if scores is None or (classes is not None and scores.shape[1] != len(classes)):
        return None
    probs, _ = probabilities(scores)
    top = probs.topk(min(k, probs.shape[1]), dim=-1)
    name = (lambda i: str(classes[i])) if classes is not None else (lambda i: f"class {i}")
    return [[(name(i), round(float(p), 3)) for p, i in zip(row_p, row_i)]
            for row_p, row_i in zip(top.values.tolist(), top.indices.tolist())]


def describe_predictions(predictions: Optional[Predictions]) -> str:
    """One line: ``name p, name p, ...`` (empty without predictions)."""
    return ", ".join(f"{name} {p:.2f}" for name, p in predictions or [])
