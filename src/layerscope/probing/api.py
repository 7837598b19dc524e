"""``ls.probe(model, data, labels=...)``: how linearly decodable the labels are from each layer.

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> x = torch.rand(40, 1, 6, 6); y = [0, 1] * 20
>>> x[1::2] += 1.0                           # class 1 is brighter: a linear read of the mean pixel
>>> found = probe(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), x, labels=y, folds=4)
>>> found.accuracy, found.chance
({'1': 1.0}, 0.5)
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from ..capturing.select import LayerSelector
from ..run import RunOptions, Subject
from .features import collect
from .fit import chance_level, check_folds, cross_validate, selectivity
from .result import LayerProbe, ProbeResult

__all__ = ["probe"]


def probe(
    model: Any,
    data: Any,
    *,
    labels: Any = None,
    layers: LayerSelector = None,
    folds: int = 5,
    seed: int = 0,
    pool: str = "mean",
    max_iter: int = 1000,
    C: float = 1.0,
    run: Optional[RunOptions] = None,
    out: Any = None,
    overwrite: bool = False,
) -> ProbeResult:
    """Fit a linear probe on each layer's spatially pooled channels and cross-validate it.

    ``model``: a spec (``"builtin:digits"``), an ``nn.Module`` or a LoadedModel. ``data``: any input kind of
    the other verbs (a tensor, image files, an ImageFolder tree, a Dataset, a DataLoader). ``labels``: None
    (the data's own: ImageFolder folder names, a Dataset's ``(x, y)``), one label per input (ints or names),
    or a text file of them (one per line). ``layers``: as for ``capture`` (default: the model's default
    layers). Each layer's activations are pooled over space (``pool``: ``"mean"`` or ``"max"``) in one run over
    the data; then per layer a multinomial logistic regression on standardized features (inverse L2 strength
    ``C``, ``max_iter`` lbfgs steps) is scored on ``folds`` stratified folds shuffled with ``seed``. The result
    gives per layer the mean held-out accuracy with a 95% t-interval over the folds, the chance level (the most
    frequent class's share), and per channel its d' for each class (:func:`~layerscope.probing.fit.selectivity`).
    ``run``: batching, device and loading (default: batches of 32). ``out``: also save there (``probe.json``, ``probe.csv``, ``probe.png``, ``selectivity.npz``).
    """
    started = time.perf_counter()
    subject = Subject.of(model, layers)
    seen = collect(subject, data, labels=labels, pool=pool, options=run if run is not None else RunOptions(batch_size=32))
    check_folds(seen.y, folds)
    rows = []
    for name, features in seen.features.items():
        scores = cross_validate(features, seen.y, folds=folds, seed=seed, C=C, max_iter=max_iter)
        rows.append(LayerProbe(name, int(features.shape[1]), scores, selectivity(features, seen.y, len(seen.classes))))
    result = ProbeResult(subject.spec, rows, seen.classes, chance_level(seen.y), len(seen.y), folds, seed, pool,
                         counts=np.bincount(seen.y, minlength=len(seen.classes)).tolist(), skipped=seen.skipped,
                         not_probed=seen.not_maps, seconds=time.perf_counter() - started)
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result
