"""Does the network look trained? Read from its parameters and buffers alone, with no data.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))  # as built: BatchNorm never saw a batch
>>> batchnorm_at_init(model)
(1, 1)
>>> round(top_over_edge(torch.ones(16, 64)), 2)  # rank one: all the energy in one eigenvalue
7.11
>>> round(neighbour_correlation(torch.ones(4, 3, 5, 5)), 2)  # flat filters: perfectly smooth
1.0

Three signals, each cheap (well under a second on EfficientNet-Lite0 on a CPU core):

- BatchNorm running statistics still at their initial values (running mean 0, running variance 1,
  no batches tracked): no data ever went through the layer in training mode.
- The eigenvalue spectra of the weight matrices (a convolution's kernel reshaped to ``(out, in*k*k)``,
  a linear layer's weight): a random init is a matrix of independent entries, whose eigenvalues of
  ``W Wᵀ / m`` stay inside the Marchenko-Pastur bulk, below the edge ``σ²(1 + √(n/m))²`` (``σ²`` the
  mean squared entry); training grows a few large directions far beyond it (the heavy tails that
  WeightWatcher measures). The measure is the top eigenvalue over that edge (:func:`top_over_edge`):
  about 1 for a random matrix of any shape (at most 1.35 over 2000 Monte-Carlo draws of 4 x 27 to
  256 x 4096 matrices), several times it for trained layers.
- The first convolution's filters: trained ones are smooth edge and colour detectors, random ones
  white noise. The measure is the correlation of neighbouring kernel taps (:func:`neighbour_correlation`):
  0 for white noise, towards 1 for smooth filters.

:func:`weight_evidence` combines them into a label (``trained`` / ``untrained`` / ``unclear`` /
``unknown``), a score (the share of weight matrices beyond the edge) and plain words naming the
evidence. The cut points are :class:`~layerscope.diagnosis.thresholds.Thresholds` fields
(``weights_*``), calibrated by ``python tools/calibrate_weights.py`` (table in ``docs/diagnose.md``).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from ..core.jsonio import jsonable
from .thresholds import Thresholds

__all__ = ["WeightEvidence", "Spectrum", "weight_evidence", "batchnorm_at_init", "top_over_edge",
           "neighbour_correlation", "weight_matrices", "first_filters"]

MAX_ROWS, MAX_COLUMNS = 256, 2048  # larger matrices are subsampled (fixed seed): the edge holds for any shape
MIN_SIDE = 4  # matrices with a smaller side carry too few eigenvalues to judge
MIN_LAYERS = 3  # fewer judged matrices: the spectra say nothing
MIN_PAIRS = 200  # fewer neighbouring kernel taps in the first filters: their smoothness says nothing
MIN_SIGMAS = 4.0  # smooth only this many standard deviations of white noise (about 1 / sqrt(pairs)) above 0
_MATRIX_MODULES = (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding)


@dataclass(frozen=True)
class Spectrum:
    """One weight matrix: its module's ``name``, the ``shape`` judged (rows, columns, before any subsampling)
    and ``ratio``, its top eigenvalue over the Marchenko-Pastur edge of a random matrix of that shape and scale."""

    name: str
    shape: tuple[int, int]
    ratio: float


@dataclass(frozen=True)
class WeightEvidence:
    """What the weights say: ``label`` (``trained`` / ``untrained`` / ``unclear`` / ``unknown``), ``score`` (the
    share of weight matrices beyond the Marchenko-Pastur edge; None without enough matrices), the BatchNorm
    counts (``batchnorm_at_init`` of ``batchnorm`` layers with running statistics), every ``spectra`` entry and
    how many are ``heavy``, the ``first_layer``'s name and ``smoothness``, and ``evidence``: one sentence each."""

    label: str
    score: Optional[float]
    batchnorm_at_init: int
    batchnorm: int
    spectra: tuple[Spectrum, ...]
    heavy: int
    first_layer: Optional[str]
    smoothness: Optional[float]
    evidence: tuple[str, ...]

    @property
    def decided(self) -> bool:
        """Whether the weights alone say ``trained`` or ``untrained``."""
        return self.label in ("trained", "untrained")

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"label": self.label, "score": self.score, "batchnorm_at_init": self.batchnorm_at_init,
                         "batchnorm": self.batchnorm, "heavy": self.heavy, "matrices": len(self.spectra),
                         "first_layer": self.first_layer, "smoothness": self.smoothness,
                         "evidence": list(self.evidence),
                         "spectra": [{"name": s.name, "shape": list(s.shape), "ratio": s.ratio} for s in self.spectra]},
                        digits=6)


def batchnorm_at_init(model: nn.Module) -> tuple[int, int]:
    """``(at init, total)`` over the BatchNorm layers that keep running statistics: at init means running mean
    exactly 0, running variance exactly 1 and no batch tracked (or no counter kept)."""
    at, total = 0, 0
    for module in model.modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm) or module.running_mean is None:
            continue
        total += 1
        mean, var = module.running_mean, module.running_var
        tracked = getattr(module, "num_batches_tracked", None)
        if (mean.device.type != "meta" and bool((mean == 0).all()) and var is not None and bool((var == 1).all())
                and (tracked is None or int(tracked) == 0)):
            at += 1
    return at, total


def weight_matrices(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(module name, weight)`` of every convolution, linear and embedding layer with a real floating-point weight
    (each parameter once, shared ones under their first name), the weight still in its own shape."""
    seen: set[int] = set()
    found = []
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None) if isinstance(module, _MATRIX_MODULES) else None
        if (not isinstance(weight, torch.Tensor) or weight.dim() < 2 or not weight.is_floating_point()
                or weight.device.type == "meta" or id(weight) in seen):
            continue
        seen.add(id(weight))
        found.append((name, weight))
    return found


@torch.no_grad()
def top_over_edge(weight: torch.Tensor) -> float:
    """The top eigenvalue of ``W Wᵀ / m`` over the Marchenko-Pastur edge ``σ²(1 + √(n/m))²`` (``W`` of shape
    ``(n, m)`` with ``n <= m``, transposed if need be; ``σ²`` its mean squared entry): about 1 for independent
    random entries, larger when a few directions dominate. Matrices beyond ``MAX_ROWS x MAX_COLUMNS`` are
    subsampled (rows and columns drawn with a fixed seed; the global RNG is untouched). NaN for a zero matrix.

    >>> gen = torch.Generator().manual_seed(0)
    >>> 0.9 < top_over_edge(torch.randn(200, 900, generator=gen)) < 1.1
    True
    """
    matrix = weight.detach().reshape(weight.shape[0], -1)
    if matrix.shape[0] > matrix.shape[1]:
        matrix = matrix.T
    gen = torch.Generator().manual_seed(0)
    if matrix.shape[0] > MAX_ROWS:
        matrix = matrix[torch.randperm(matrix.shape[0], generator=gen)[:MAX_ROWS].to(matrix.device)]
    if matrix.shape[1] > MAX_COLUMNS:
        matrix = matrix[:, torch.randperm(matrix.shape[1], generator=gen)[:MAX_COLUMNS].to(matrix.device)]
    matrix = matrix.to("cpu", torch.float64)
    n, m = matrix.shape
    scale = float(matrix.square().mean())
    if not scale or not math.isfinite(scale):
        return math.nan
    top = float(torch.linalg.eigvalsh(matrix @ matrix.T / m)[-1])
    return top / (scale * (1 + math.sqrt(n / m)) ** 2)


_SPECTRA: dict[int, tuple[Any, tuple, float]] = {}  # id(weight) -> (weakref, stamp, top_over_edge)


def _remembered_top_over_edge(weight: torch.Tensor) -> float:
    """:func:`top_over_edge`, remembered per weight tensor until it changes (its version counter, storage, shape
    or dtype): a model diagnosed again (a notebook, the explorer, a training monitor) costs no eigenvalues.

    >>> w = torch.randn(64, 300, generator=torch.Generator().manual_seed(1))
    >>> first = _remembered_top_over_edge(w)
    >>> _remembered_top_over_edge(w) == first, id(w) in _SPECTRA
    (True, True)
    >>> _ = w.mul_(0)  # an in-place change bumps the version: computed again (a zero matrix has none)
    >>> math.isnan(_remembered_top_over_edge(w))
    True
    """
    stamp = (weight._version, weight.data_ptr(), tuple(weight.shape), weight.dtype, weight.device)
    seen = _SPECTRA.get(id(weight))
    if seen is not None and seen[0]() is weight and seen[1] == stamp:
        return seen[2]
    value = top_over_edge(weight)
    if len(_SPECTRA) > 4096:  # models come and go: drop the dead entries
        for key in [k for k, v in _SPECTRA.items() if v[0]() is None]:
            del _SPECTRA[key]
    _SPECTRA[id(weight)] = (weakref.ref(weight), stamp, value)
    return value


@torch.no_grad()
def neighbour_correlation(weight: torch.Tensor) -> float:
    """How smooth convolution filters are: the sum of products of neighbouring kernel taps (along every spatial
    axis) over half the sum of their squares. 0 for white noise, 1 for flat filters, negative for checkerboards;
    NaN for a zero kernel.

    >>> x = torch.linspace(-2, 2, 7)
    >>> gauss = torch.exp(-(x[:, None] ** 2 + x[None] ** 2) / 2)
    >>> round(neighbour_correlation((gauss * x[None]).expand(2, 3, 7, 7)), 2)  # a Gaussian derivative: smooth
    0.81
    """
    w = weight.detach().to("cpu", torch.float64)
    products, squares = 0.0, 0.0
    for axis in range(2, w.dim()):
        a, b = w.narrow(axis, 0, w.shape[axis] - 1), w.narrow(axis, 1, w.shape[axis] - 1)
        products += float((a * b).sum())
        squares += float((a.square() + b.square()).sum()) / 2
    return products / squares if squares else math.nan


def first_filters(model: nn.Module) -> Optional[tuple[str, torch.Tensor]]:
    """The first convolution (in module order) whose kernel spans at least 2 taps on every spatial axis."""
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if (isinstance(module, nn.modules.conv._ConvNd) and isinstance(weight, torch.Tensor)
                and weight.device.type != "meta" and min(module.kernel_size) >= 2):
            return name, weight
    return None


def weight_evidence(model: nn.Module, t: Optional[Thresholds] = None) -> WeightEvidence:
    """The three signals of the module docstring, each a vote, then one label.

    A vote for untrained: at least ``weights_bn_at_init`` of the BatchNorm layers at their initial
    statistics; at most ``weights_heavy_untrained`` of the weight matrices (at least ``MIN_LAYERS``) beyond
    ``weights_heavy_ratio`` times the Marchenko-Pastur edge; first filters (at least ``MIN_PAIRS``
    neighbouring taps) with a neighbour correlation at most ``weights_smooth_untrained``. A vote for trained:
    at least ``weights_heavy_trained`` of the matrices beyond the edge; a neighbour correlation at least
    ``weights_smooth_trained`` and ``MIN_SIGMAS`` times white noise's spread (``1 / sqrt(pairs)``). BatchNorm statistics that moved are no vote (forward passes in training mode
    move them, with the weights still random). Votes one way only: that label; none: ``unknown`` (nothing to
    judge) or ``unclear``; both ways: ``unclear``.
    """
    t = t or Thresholds()
    at, total = batchnorm_at_init(model)
    spectra = tuple(Spectrum(name, _shape(w), ratio) for name, w in weight_matrices(model)
                    if min(_shape(w)) >= MIN_SIDE and not math.isnan(ratio := _remembered_top_over_edge(w)))
    heavy = sum(s.ratio >= t.weights_heavy_ratio for s in spectra)
    first = first_filters(model)
    smooth = neighbour_correlation(first[1]) if first is not None and _pairs(first[1]) >= MIN_PAIRS else None
    smooth = None if smooth is not None and math.isnan(smooth) else smooth
    smooth_cut = max(t.weights_smooth_trained, MIN_SIGMAS / math.sqrt(_pairs(first[1]))) if first else math.inf
    votes, evidence = {"trained": [], "untrained": []}, []
    if total:
        bn_untrained = at / total >= t.weights_bn_at_init
        evidence.append(f"{at or total} of {total} BatchNorm layer{'s' if total != 1 else ''} "
                        + ("still at their initial statistics (running mean 0, variance 1, no batches tracked)"
                           if at else "moved from their initial statistics (they have seen data)"))
        if bn_untrained:
            votes["untrained"].append("batchnorm")
    score = heavy / len(spectra) if len(spectra) >= MIN_LAYERS else None
    if spectra:
        median = sorted(s.ratio for s in spectra)[len(spectra) // 2]
        evidence.append(f"weight spectra: {heavy} of {len(spectra)} layers heavy-tailed beyond the "
                        f"Marchenko-Pastur edge (top eigenvalue at least {t.weights_heavy_ratio:g}x the edge of a random "
                        f"matrix of the same shape and scale; median {median:.2f}x)")
    if score is not None:
        if score >= t.weights_heavy_trained:
            votes["trained"].append("spectra")
        elif score <= t.weights_heavy_untrained:
            votes["untrained"].append("spectra")
    if smooth is not None and first is not None:
        kind = ("smooth, like trained edge and colour detectors" if smooth >= smooth_cut else
                "white noise, like a random init" if smooth <= t.weights_smooth_untrained else "neither smooth nor noise")
        evidence.append(f"first-layer filters ({first[0]}): {kind} (neighbour correlation {smooth:.2f}; white "
                        f"noise 0, smooth towards 1)")
        if smooth >= smooth_cut:
            votes["trained"].append("first layer")
        elif smooth <= t.weights_smooth_untrained:
            votes["untrained"].append("first layer")
    trained, untrained = votes["trained"], votes["untrained"]
    if trained and not untrained:
        label = "trained"
    elif untrained and not trained:
        label = "untrained"
    elif trained and untrained:
        label = "unclear"
        if "batchnorm" in untrained and "spectra" in trained:
            evidence.append("the weights look trained but BatchNorm never saw a batch: were the running statistics "
                            "(buffers) left out when the weights were loaded?")
        else:
            evidence.append(f"the signals disagree ({', '.join(trained)}: trained; {', '.join(untrained)}: untrained)")
    else:
        label = "unclear" if evidence else "unknown"
    return WeightEvidence(label, score, at, total, spectra, heavy, first[0] if first else None, smooth,
                          tuple(evidence))


def _shape(weight: torch.Tensor) -> tuple[int, int]:
    return int(weight.shape[0]), int(weight[0].numel())


def _pairs(weight: torch.Tensor) -> int:
    """Neighbouring tap pairs in a kernel ``(out, in, *spatial)``, over every spatial axis."""
    spatial = weight.shape[2:]
    return int(weight.shape[0] * weight.shape[1] * sum(math.prod(spatial) // n * (n - 1) for n in spatial))
