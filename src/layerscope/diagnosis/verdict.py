"""From per-channel numbers to flags, shares and a layer verdict in words a student understands.

>>> import torch
>>> from layerscope.stats import ChannelStats
>>> maps = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(0)).cumsum(-1).cumsum(-2)
>>> maps[:, 1] = -1.0  # never positive: dead
>>> verdict = judge(ChannelStats(4).update(maps).result(), Thresholds())
>>> verdict.flagged["dead"], verdict.verdict
([1], 'suspicious')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..stats import ChannelSummary
from ..stats.maps import CONSTANT_REL
from .result import VERDICTS, Finding
from .thresholds import Thresholds

__all__ = ["FLAGS", "LayerVerdict", "classify", "judge", "finite_median"]

FLAGS = ("nonfinite", "exploding", "dead", "saturated", "uniform", "noisy")  # precedence order


@dataclass
class LayerVerdict:
    """Flags (channel indices per kind), shares of channels per kind, verdict, reason and findings."""

    flagged: dict[str, list[int]]
    shares: dict[str, float]
    verdict: str
    reason: str
    findings: list[Finding] = field(default_factory=list)
    silent: list[int] = field(default_factory=list)  # never active here, but expected to fire (not dead)


def _median(values: np.ndarray) -> float:
    """The median of the finite values (NaN without one): ``np.median``'s number, bit for bit (a partition,
    and the mean of the two middle values for an even count), without its per-call overhead (judging the
    layers of one photo calls it hundreds of times).

    >>> values = np.array([3.0, np.nan, 1.0, 0.1, 2.0, np.inf])
    >>> bool(_median(values) == np.median(values[np.isfinite(values)])), _median(values[:3]), _median(values[1:2])
    (True, 2.0, nan)
    """
    values = values[np.isfinite(values)]
    n = values.size
    if not n:
        return math.nan
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float((part[half - 1] + part[half]) / 2)


finite_median = _median


def classify(s: ChannelSummary, t: Thresholds, bounds: Optional[tuple] = None, *, dead: bool = True,
             noisy: bool = True, firing: Optional[np.ndarray] = None) -> dict[str, list[int]]:
    """Give each channel at most one flag, in the precedence order of :data:`FLAGS`.

    ``dead=False`` (outputs that no rectifier sees, see :func:`~layerscope.diagnosis.metrics.rectified`)
    and ``noisy=False`` (maps too fine to judge, see ``Thresholds.noisy_min_stride``) leave those flags out.
    ``firing``: per channel, the share of training positions where it fires according to its BatchNorm
    (:func:`~layerscope.diagnosis.metrics.expected_firing`): a silent channel is dead only when that share
    is at most ``dead_firing``.
    """
    free = np.ones(s.channels, dtype=bool)
    flagged: dict[str, list[int]] = {}

    def take(name: str, hits: np.ndarray) -> None:
        hits = hits & free
        flagged[name] = np.flatnonzero(hits).tolist()
        free[hits] = False

    take("nonfinite", (s.nan + s.inf) > 0)
    typical = _median(np.where(s.rms > 0, s.rms, np.nan))
    take("exploding", (s.channels >= 4) & (typical > 0) & (s.rms >= t.exploding * typical))
    has_values = np.isfinite(s.max)
    expected_silent = np.ones(s.channels, dtype=bool) if firing is None else np.asarray(firing) <= t.dead_firing
    take("dead", has_values & (s.max <= t.active) & dead & expected_silent)
    free[has_values & (s.max <= t.active) & dead] = False  # silent but selective: neither dead nor "uniform"
    take("saturated", (bounds is not None) & (np.nan_to_num(s.at_bound) >= t.saturated))
    spatial = np.isfinite(s.spatial_std)
    reference = _median(np.where(free & spatial & (s.spatial_std > 0), s.spatial_std, np.nan))
    reference = 0.0 if math.isnan(reference) else reference
    magnitude = np.fmax(np.abs(s.min), np.abs(s.max))
    constant = s.spatial_std <= CONSTANT_REL * magnitude  # flat up to round-off, whatever the other channels do
    take("uniform", spatial & ((s.spatial_std <= t.uniform_rel * reference) | constant))
    take("noisy", (np.nan_to_num(s.noise, nan=-1.0) >= t.noisy) & noisy)
    return flagged


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def _bound_words(bounds: Optional[tuple]) -> str:
    if not bounds:
        return "clamp"
    parts = [f"{b:g}" for b in bounds if b is not None]
    return " / ".join(parts)


def _sentences(kind: str, k: int, c: int, s: ChannelSummary, t: Thresholds, bounds, idx: list[int]) -> tuple[str, str]:
    """(what is wrong, with numbers; why it matters and what to do) for one flag."""
    head = f"{k} of {c} channels ({_pct(k / c)})"
    if kind == "dead":
        many = "the layer contributes almost nothing" if k / c >= t.dead_bad else "those filters contribute nothing"
        return (
            f"{head} {'is' if k == 1 else 'are'} dead — never positive on any of the {s.inputs} inputs, "
            f"so after the ReLU {'it outputs' if k == 1 else 'they output'} zero every time.",
            f"Dead filters usually come from a too-high learning rate or a bad initialisation; {many}.",
        )
    if kind == "uniform":
        return (
            f"{head} {'is' if k == 1 else 'are'} uniform — the same value all over the map (spatial variation "
            f"under {100 * t.uniform_rel:g}% of the layer's typical variation), so they cannot show edges or shapes.",
            "Constant maps come from filters whose weights shrank to zero (strong weight decay, no gradient) or "
            "from a constant input; check the input and the learning rate.",
        )
    if kind == "noisy":
        worst = float(np.nanmax(s.noise[idx])) if idx else math.nan
        return (
            f"{head} look{'s' if k == 1 else ''} like noise — their maps are speckle without edges or shapes "
            f"(noise score {worst:.2f} at worst, flagged from {t.noisy:g}; 0 is smooth, 1 is pure pixel noise).",
            "Noisy maps mean the model is not learning useful features here (untrained or diverged weights) "
            "or the input is preprocessed wrongly; check the input findings, then the training.",
        )
    if kind == "saturated":
        return (
            f"{head} {'is' if k == 1 else 'are'} saturated — stuck at the activation's limit ({_bound_words(bounds)}) "
            f"in at least {100 * t.saturated:g}% of positions.",
            "Saturated units pass no gradient and carry no information; check the input scale, lower the "
            "learning rate, or normalize before the activation.",
        )
    if kind == "nonfinite":
        nan, inf = int(s.nan[idx].sum()), int(s.inf[idx].sum())
        return (
            f"{head} contain{'s' if k == 1 else ''} NaN or Inf ({nan} NaN and {inf} Inf values).",
            "The numbers overflowed or something divided by zero: check the input for NaN, lower the learning "
            "rate, and look at any log / sqrt / division in the model.",
        )
    largest = float(np.nanmax(np.abs(np.concatenate([s.min[idx], s.max[idx]])))) if idx else math.nan
    return (
        f"{head} {'is' if k == 1 else 'are'} exploding — over {t.exploding:g}x the layer's typical size "
        f"(largest value {largest:.3g}).",
        "One huge channel drowns out the others; lower the learning rate, clip gradients or add normalization.",
    )


def judge(s: ChannelSummary, t: Thresholds, bounds: Optional[tuple] = None, *, dead: bool = True,
          noisy: bool = True, firing: Optional[np.ndarray] = None, trained: bool = False) -> LayerVerdict:
    """Flags, shares and verdict of one layer, with one finding per kind of flagged channel (see :func:`classify`).

    ``silent``: the channels never active on these inputs that ``firing`` says are selective, not dead.
    ``trained``: the weights say the network is trained (:mod:`~layerscope.diagnosis.weights`); speckled
    maps are then what its coarse, sparse maps look like on these inputs, not a sign of untrained or
    diverged filters, so the noisy share is reported (``info``) and does not make the layer suspicious.
    """
    flagged = classify(s, t, bounds, dead=dead, noisy=noisy, firing=firing)
    silent: list[int] = []
    if dead and firing is not None:
        quiet = np.isfinite(s.max) & (s.max <= t.active) & (np.asarray(firing) > t.dead_firing)
        silent = np.flatnonzero(quiet).tolist()
    c = max(s.channels, 1)
    shares = {kind: len(idx) / c for kind, idx in flagged.items()}
    shares["inert"] = shares["dead"] + shares["uniform"] + shares["saturated"]
    limits = {
        "dead": (t.dead_suspicious, t.dead_bad),
        "uniform": (t.uniform_suspicious, t.uniform_bad),
        "noisy": (t.noisy_suspicious, t.noisy_bad),
        "saturated": (t.saturated_suspicious, t.saturated_bad),
        "nonfinite": (math.inf, 1e-12),
        "exploding": (1e-12, math.inf),
    }
    findings: list[Finding] = []
    level = 0
    for kind in FLAGS:
        idx = flagged[kind]
        if not idx:
            continue
        low, high = limits[kind]
        severity = 2 if shares[kind] >= high else 1 if shares[kind] >= low else 0
        if kind == "noisy" and trained:
            severity = 0
        level = max(level, severity)
        what, why = _sentences(kind, len(idx), c, s, t, bounds, idx)
        if kind == "noisy" and trained:
            why = ("The weights say the network is trained, and the coarse, sparse maps of a trained network often "
                   "score as speckle on a few inputs: not counted against the layer.")
        values = {"channels": idx, "share": round(shares[kind], 4), "of": s.channels}
        findings.append(Finding(f"layer.{kind}", ("info", "warning", "error")[severity], what, why, values))
    if level < 2 and shares["inert"] >= t.inert_bad:
        level = 2
        findings.insert(0, Finding(
            "layer.inert", "error",
            f"{_pct(shares['inert'])} of the channels carry no information (dead, uniform or saturated together).",
            "Most of this layer is switched off; check the learning rate, initialisation and input scale.",
            {"share": round(shares["inert"], 4)},
        ))
    findings.sort(key=lambda f: ("error", "warning", "info").index(f.severity))
    verdict = VERDICTS[level]
    reason = _reason(verdict, findings, s)
    return LayerVerdict(flagged, shares, verdict, reason, findings, silent)


def _reason(verdict: str, findings: list[Finding], s: ChannelSummary) -> str:
    if verdict == "good":
        noise = _median(s.noise)
        score = f" (median noise score {noise:.2f}: 0 smooth, 1 pixel noise)" if not math.isnan(noise) else ""
        active = 1 - float(np.nanmean(s.inactive)) if s.channels else math.nan
        minor = "; ".join(_minor(f) for f in findings)
        extra = f" Minor, below the cut points: {minor}." if minor else ""
        return (
            f"good: no channel problem above the cut points; the channels vary with the input{score}; "
            f"{_pct(active)} of values are active." + extra
        )
    first = findings[0]
    more = f" Also: {' '.join(f.message for f in findings[1:])}" if len(findings) > 1 else ""
    return f"{verdict}: {first.message} {first.fix}{more}"


def _minor(finding: Finding) -> str:
    """A below-the-cut-point finding in a few words: ``3 of 96 channels dead``."""
    values = finding.values
    kind = finding.code.rpartition(".")[2]
    if "channels" in values and "of" in values:
        return f"{len(values['channels'])} of {values['of']} channels {kind}"
    return kind
