"""What the model's own output says: a classifier's confidence (trained or not?) and its top predictions.

>>> import torch
>>> from layerscope.io.predictions import top_predictions
>>> seen, output = ClassifierOutputs(keep=1), torch.tensor([[0.0, 2.0], [3.0, 0.0]])
>>> seen.update(output, ["a.jpg", "b.jpg"], top_predictions(output, ("cat", "dog")))
>>> round(seen.confidence, 3), seen.classes_count, seen.predictions
(0.917, 2, [('a.jpg', [('dog', 0.881), ('cat', 0.119)])])
>>> round(seen.position, 2)  # the most confident input (0.953): 0 at chance (1/2), 1 at certainty
0.91
>>> seen.confident(0.8)  # inputs at least 80% of the way from chance to certainty
1
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Optional, Sequence

from ..io.predictions import Predictions, class_scores, probabilities

__all__ = ["ClassifierOutputs"]


class ClassifierOutputs:
    """Streams a model's outputs: mean top-class probability (``confidence``) and the first ``keep`` predictions.

    Outputs that are not ``(N, classes)`` scores are ignored (``confidence`` stays NaN). Rows that
    are probabilities already (non-negative, summing to 1) are used as they are, others go through
    a softmax (:func:`~layerscope.io.predictions.probabilities`, the one rule). The named predictions
    come from the caller (:meth:`~layerscope.run.Subject.predictions`), so they are every verb's.
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self.total, self.best, self.count, self.classes_count = 0.0, 0.0, 0, 0
        self.predictions: list[tuple[str, list[tuple[str, float]]]] = []
        self.tops = array("d")  # every input's top-class probability (8 bytes an input)

    @property
    def room(self) -> bool:
        """Whether more predictions are kept (the caller may skip naming them otherwise)."""
        return len(self.predictions) < self.keep

    def update(self, output: Any, sources: Sequence[str], named: Optional[list[Optional[Predictions]]] = None) -> None:
        """Add one batch's ``output``; ``named``: its inputs' top classes (None: none kept)."""
        scores = class_scores(output)
        if scores is None:
            return
        probs, _ = probabilities(scores)
        top = probs.max(1).values
        self.tops.extend(top.double().tolist())
        self.total += float(top.sum())
        self.best = max(self.best, float(top.max()))
        self.count += int(probs.shape[0])
        self.classes_count = int(probs.shape[1])
        room = self.keep - len(self.predictions)
        if named and room > 0:
            self.predictions += [(source, top) for source, top in zip(sources, named) if top is not None][:room]

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

    def confident(self, position: float) -> int:
        """How many inputs reach ``position`` of the way from chance (0) to certainty (1), as :attr:`position` places
        the most confident one."""
        if not self.count or self.classes_count < 2:
            return 0
        chance = 1 / self.classes_count
        return sum((top - chance) / (1 - chance) >= position for top in self.tops)
