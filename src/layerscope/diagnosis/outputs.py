"""What the model's own output says: a classifier's confidence (trained or not?) and its top predictions.

>>> import torch
>>> seen = ClassifierOutputs(classes=("cat", "dog"), keep=1)
>>> seen.update(torch.tensor([[0.0, 2.0], [3.0, 0.0]]), ["a.jpg", "b.jpg"])
>>> round(seen.confidence, 3), seen.classes_count, seen.predictions
(0.917, 2, [('a.jpg', [('dog', 0.881), ('cat', 0.119)])])
>>> round(seen.position, 2)  # the most confident input (0.953): 0 at chance (1/2), 1 at certainty
0.91
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence


from ..io.predictions import class_scores, probabilities, top_predictions

__all__ = ["ClassifierOutputs"]


class ClassifierOutputs:
    """Streams a model's outputs: mean top-class probability (``confidence``) and the first ``keep`` predictions.

    Outputs that are not ``(N, classes)`` scores are ignored (``confidence`` stays NaN). Rows that
    are probabilities already (non-negative, summing to 1) are used as they are, others go through
    a softmax.
    """

    def __init__(self, classes: Optional[Sequence[str]] = None, keep: int = 8) -> None:
        self.classes, self.keep = tuple(classes) if classes else None, keep
        self.total, self.best, self.count, self.classes_count = 0.0, 0.0, 0, 0
        self.predictions: list[tuple[str, list[tuple[str, float]]]] = []

    def update(self, output: Any, sources: Sequence[str]) -> None:
        scores = class_scores(output)
        if scores is None:
            return
        probs, _ = probabilities(scores)
        top = probs.max(1).values
        self.total += float(top.sum())
        self.best = max(self.best, float(top.max()))
        self.count += int(probs.shape[0])
        self.classes_count = int(probs.shape[1])
        room = self.keep - len(self.predictions)
        named = top_predictions(probs, self.classes) if room > 0 else None
        if named:
            self.predictions += list(zip(sources, named))[:room]

    @property
    def confidence(self) -> float:
        """Mean top-class probability over every input seen (NaN when the output is not class scores)."""
        return self.total / self.count if self.count else math.nan

    @property
    def position(self) -> float:
        """The most confident input's top-class probability placed between chance (0: 1 / classes) and certainty (1).

        The most confident input, not the mean: one image a trained classifier recognises is evidence
        enough, while images of things it was never trained on (a texture, a page of text) stay unsure.
        """
        if not self.count or self.classes_count < 2:
            return math.nan
        chance = 1 / self.classes_count
        return (self.best - chance) / (1 - chance)
