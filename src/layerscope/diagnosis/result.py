"""What :func:`layerscope.diagnose` returns: findings, one diagnosis per layer, the model tendency.

>>> f = Finding("input.range", "error", "Values reach 255.", "Divide by 255, then normalize.", {"max": 255.0})
>>> f.to_dict()["code"], str(f)
('input.range', '[error] input.range: Values reach 255. Fix: Divide by 255, then normalize.')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Optional

import numpy as np

from ..core.jsonio import jsonable as _jsonable
from ..core.results import Result
from ..errors import LayerNotFoundError, did_you_mean
from ..stats import ChannelSummary
from .expr import parse_gate
from .text import summary_text
from .thresholds import Thresholds
from .weights import WeightEvidence

if TYPE_CHECKING:  # verdict.py imports Finding from here
    from .verdict import LayerVerdict

__all__ = ["Finding", "LayerDiagnosis", "Tendency", "Diagnosis", "CAVEAT"]

CAVEAT = (
    "Feature maps are not explanations: they show what each filter responds to, not why the model "
    "decides what it does. Treat this as an interpretability aid and a health check, not as proof."
)
VERDICTS = ("good", "suspicious", "bad")
_PER_CHANNEL = ("inactive", "mean", "std", "rms", "min", "max", "spatial_std", "noise", "at_bound",
                "peak_row", "peak_col", "peak_spread", "nan", "inf")


def jsonable(value: Any) -> Any:
    """Plain JSON types (see :func:`layerscope.core.jsonio.jsonable`), floats to 6 significant digits."""
    return _jsonable(value, digits=6)


@dataclass(frozen=True)
class Finding:
    """One judgement with a stable ``code`` (``input.range``, ``layer.dead`` ...), a severity
    (``error`` / ``warning`` / ``info``), what was seen (``message``), what to do (``fix``) and the
    numbers behind it (``values``)."""

    code: str
    severity: str
    message: str
    fix: str = ""
    values: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"code": self.code, "severity": self.severity, "message": self.message,
                         "fix": self.fix, "values": self.values})

    def __str__(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"[{self.severity}] {self.code}: {self.message}{fix}"


@dataclass
class LayerDiagnosis:
    """The diagnosis of one captured layer.

    ``shape`` is one input's activation shape (without the batch); ``layout`` how it was read
    (``NCHW``, ``tokens``, ``NC`` ...); ``judgement`` the :class:`~layerscope.diagnosis.verdict.LayerVerdict`
    (its ``verdict``, ``reason``, ``flagged`` channel indices per flag, ``shares`` of channels per
    flag and ``findings`` read through as attributes of the diagnosis); ``scale`` the root-mean-square of the layer's finite values;
    ``noise`` the median channel noise score (None without spatial maps); ``channels_summary``
    every per-channel number; ``bounds`` the activation's clamp bounds (None: saturation not checked);
    ``input_noise`` the inputs' own noise score at the layer's resolution; ``rectified`` whether
    "never positive" means dead here (see :func:`~layerscope.diagnosis.metrics.rectified`; else the
    dead share is not judged); ``stride`` how many input pixels one map pixel spans (noise is judged
    from ``Thresholds.noisy_min_stride`` on).
    """

    name: str
    module_type: str
    shape: tuple[int, ...]
    layout: str
    judgement: LayerVerdict
    scale: float
    effective_rank: float
    noise: Optional[float]
    inactive: float
    channels_summary: ChannelSummary
    notes: list[str] = field(default_factory=list)
    bounds: Optional[tuple] = None
    input_noise: Optional[float] = None
    rectified: bool = True
    stride: Optional[float] = None

    verdict = property(lambda self: self.judgement.verdict, doc="good / suspicious / bad")
    reason = property(lambda self: self.judgement.reason, doc="the verdict in plain words")
    flagged = property(lambda self: self.judgement.flagged, doc="channel indices per flag")
    shares = property(lambda self: self.judgement.shares, doc="share of channels per flag")
    findings = property(lambda self: self.judgement.findings, doc="the layer's findings")

    @property
    def relative_noise(self) -> Optional[float]:
        """Layer noise over the input's own noise score at the layer's resolution (None if either is missing)."""
        if self.noise is None or not self.input_noise:
            return None
        return self.noise / self.input_noise

    @property
    def channels(self) -> int:
        return self.channels_summary.channels

    @property
    def spatial(self) -> bool:
        """Whether the layer has maps with positions (uniform / noise / peak apply)."""
        return bool(np.isfinite(self.channels_summary.spatial_std).any())

    def to_dict(self, per_channel: bool = True) -> dict[str, Any]:
        data = {
            "name": self.name, "module_type": self.module_type, "shape": list(self.shape),
            "layout": self.layout, "channels": self.channels, "verdict": self.verdict, "reason": self.reason,
            "flagged": self.flagged, "silent": self.judgement.silent, "shares": self.shares, "scale": self.scale,
            "effective_rank": self.effective_rank, "noise": self.noise, "inactive": self.inactive,
            "findings": [f.to_dict() for f in self.findings], "notes": self.notes,
            "bounds": self.bounds, "spatial": self.spatial, "input_noise": self.input_noise,
            "relative_noise": self.relative_noise, "rectified": self.rectified, "stride": self.stride,
        }
        if per_channel:
            data["per_channel"] = {k: getattr(self.channels_summary, k) for k in _PER_CHANNEL}
        return jsonable(data)


def _first_sentence(text: str, limit: int = 120) -> str:
    """The first sentence of a message without its final full stop; a long one up to its first ``;`` or
    ``:`` outside brackets.

    >>> _first_sentence("Values reach 255; almost every model expects [0, 1]. Divide by 255.")
    'Values reach 255'
    """
    head, dot, _ = text.partition(". ")
    head = (head if dot else text).rstrip(".")
    depth = 0
    for i, char in enumerate(head):
        depth += (char in "([") - (char in ")]")
        if depth == 0 and char in ";:" and (len(head) > limit or char == ";"):
            return head[:i]
    return head


_KIND_WORDS = {
    "dead": "with dead channels", "uniform": "with uniform (constant) maps", "noisy": "with speckled maps",
    "saturated": "with saturated channels", "nonfinite": "with NaN/Inf", "exploding": "with an exploding channel",
    "inert": "mostly switched off",
}
_KIND_STEPS = {
    "dead": "lower the learning rate or re-initialise the dead filters (see Details)",
    "uniform": "check the input and the learning rate (see Details)",
    "noisy": "check the input's preprocessing, then the training (see Details)",
    "saturated": "check the input scale, or normalize before the activation (see Details)",
    "nonfinite": "fix the first layer with NaN/Inf (see Notes)",
    "exploding": "lower the learning rate, clip gradients or add normalization (see Details)",
    "inert": "check the learning rate, initialisation and input scale (see Details)",
}


@dataclass
class Tendency:
    """Model level: does the network look trained? ``label`` is ``trained`` / ``untrained`` /
    ``unclear`` / ``unknown``; ``source`` what decided it: ``weights`` (``score``: the share of weight
    matrices beyond the Marchenko-Pastur edge; ``layers``: the matrices judged), ``confidence`` (``score``:
    the most confident input's place from chance 0 to certainty 1), ``maps`` (``score``: the median noise
    score of the deeper ``layers`` it used), ``inputs`` (blank or noise inputs: unclear) or ``""``;
    ``evidence`` one plain sentence per signal read; ``weights`` the
    :class:`~layerscope.diagnosis.weights.WeightEvidence` (None: no model given)."""

    label: str
    score: Optional[float]
    layers: list[str]
    message: str
    caveat: str = CAVEAT
    evidence: list[str] = field(default_factory=list)
    source: str = ""
    weights: Optional[WeightEvidence] = None

    @property
    def evidence_words(self) -> str:
        """The evidence behind the label in a few words: its first signal without the brackets (the weights'
        "49 of 49 BatchNorm layers still at their initial statistics"), else the message's reason."""
        if self.evidence:
            return re.sub(r"\s*\([^()]*\)", "", _first_sentence(self.evidence[0], 200)).strip()
        text = self.message.removeprefix("Tendency: ")
        lead, sep, rest = text.partition(": ")
        return _first_sentence(rest if sep and len(lead) < 60 else text)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"label": self.label, "score": self.score, "layers": self.layers,
                         "message": self.message, "caveat": self.caveat, "source": self.source,
                         "evidence": self.evidence, "weights": self.weights.to_dict() if self.weights else None})


@dataclass
class Diagnosis(Result):
    """Everything :func:`layerscope.diagnose` found: input findings first, then layers, then the tendency.

    ``verdict`` is the headline: the worst of the layer verdicts, the input findings (an error is
    bad, a warning suspicious) and the model tendency (untrained is bad), so a wrong input or an
    untrained model never headlines "good"; ``headline`` says why in one line; ``layers_verdict``
    is the worst layer verdict alone. ``predictions`` are the top classes of the first inputs
    (``(source, [(class, probability), ...])``) for a classifier whose class names are known.
    ``result["conv1"]`` gives one layer. Displays as an
    HTML table in Jupyter (drawn by :mod:`layerscope.display.diagnosis`); ``to_dict()`` / ``to_json()`` for
    machines; ``summary()`` for people; ``save(out)`` writes ``diagnosis.json`` into the folder ``out``.
    Provenance: ``preprocessing`` (the one the inputs went through, as a dict) and
    ``native_preprocessing`` (the model's own), ``weights`` (None: random init or unknown) and
    ``checkpoint`` (its path), ``skipped`` images as ``(path, reason)``.
    """

    index_name: ClassVar[str] = "diagnosis.json"

    model: str
    inputs: int
    input_findings: list[Finding]
    layers: list[LayerDiagnosis]
    tendency: Tendency
    thresholds: Thresholds
    notes: list[str] = field(default_factory=list)
    preprocessing: Optional[dict] = None
    native_preprocessing: Optional[dict] = None
    weights: Optional[str] = None
    checkpoint: Optional[str] = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    predictions: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)

    @property
    def layers_verdict(self) -> str:
        """The worst per-layer verdict (``good`` without layers)."""
        return max((layer.verdict for layer in self.layers), key=VERDICTS.index, default="good")

    def _reasons(self) -> list[tuple[str, str, str]]:
        """``(verdict, why, next step)`` from the inputs, the tendency and the layers, in that order.

        They never contradict each other: layer problems seen on wrong inputs are said to be possibly the
        inputs' doing, and the layers are grouped by their worst flag ("12 layers: dead channels").
        """
        reasons: list[tuple[str, str, str]] = []
        wrong = [f for f in self.input_findings if f.severity in ("error", "warning")]
        if wrong:
            worst = min(wrong, key=lambda f: f.severity != "error")  # the first error, else the first warning
            level = "bad" if worst.severity == "error" else "suspicious"
            reasons.append((level, f"the inputs look wrong: {_first_sentence(worst.message)} ({worst.code})",
                            worst.fix or "fix the inputs first (see Inputs)"))
        if self.tendency.label == "untrained":
            reasons.append(("bad", f"the model looks untrained: {self.tendency.evidence_words}",
                            "load its trained weights (check the model spec or --checkpoint), or train it"))
        layer_level = self.layers_verdict
        if layer_level != "good":
            groups: dict[str, list[LayerDiagnosis]] = {}
            for layer in self.layers:
                if layer.verdict == layer_level:
                    groups.setdefault(layer.findings[0].code.rpartition(".")[2], []).append(layer)
            words = []
            for kind, members in sorted(groups.items(), key=lambda item: -len(item[1])):
                worst = max(members, key=lambda layer: layer.shares.get(kind, layer.shares.get("inert", 0.0)))
                share = worst.shares.get(kind, worst.shares.get("inert", 0.0))
                count = f"{len(members)} layer{'s' if len(members) > 1 else ''}"
                words.append(f"{count} {_KIND_WORDS.get(kind, kind)} (worst {worst.name}: {share:.0%} of its channels)")
            why = f"{layer_level} layers: " + "; ".join(words)
            if wrong:
                why += ", possibly because of the inputs"
            reasons.append((layer_level, why, self._layer_step(next(iter(sorted(groups, key=lambda k: -len(groups[k])))))))
        return reasons

    def _layer_step(self, kind: str) -> str:
        if self.inputs < 8 and kind in ("noisy", "dead", "uniform"):
            return "give 8 or more inputs of the kind the model was trained on, then look again (see Details)"
        return _KIND_STEPS.get(kind, "see Details")

    @property
    def verdict(self) -> str:
        return max((level for level, _, _ in self._reasons()), key=VERDICTS.index, default="good")

    @property
    def headline(self) -> str:
        """``verdict: why; why — next: one step`` in one line, e.g. ``bad: the model looks untrained:
        49 of 49 BatchNorm layers still hold their initial statistics — next: load its trained weights ...``.

        Every reason names its evidence; the step is the inputs' fix when they look wrong (fix them before
        judging the model or the layers), else the worst reason's."""
        reasons = self._reasons()
        if not reasons:
            trained = "; the model looks trained" if self.tendency.label == "trained" else ""
            return f"good: no problem found with the inputs or the layers{trained}"
        worst = reasons[0] if reasons[0][1].startswith("the inputs") else max(reasons, key=lambda r: VERDICTS.index(r[0]))
        return f"{self.verdict}: " + "; ".join(why for _, why, _ in reasons) + f" — next: {worst[2]}"

    def __getitem__(self, name: str) -> LayerDiagnosis:
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = [layer.name for layer in self.layers]
        raise LayerNotFoundError(f"No diagnosed layer matches {name!r}.{did_you_mean(name, names)} The diagnosed "
                                 f"layers: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}.")

    def failed(self, expression: str) -> bool:
        """Whether a ``--fail-on`` expression (``"dead>0.2 or verdict==bad"``) holds; see :mod:`.expr`."""
        return parse_gate(expression)(self)

    def to_dict(self, per_channel: bool = True) -> dict[str, Any]:
        return jsonable({
            "model": self.model,
            "weights": self.weights,
            "checkpoint": self.checkpoint,
            "preprocessing": self.preprocessing,
            "native_preprocessing": self.native_preprocessing,
            "inputs": self.inputs,
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "verdict": self.verdict,
            "headline": self.headline,
            "layers_verdict": self.layers_verdict,
            "predictions": [{"input": source, "top": [{"class": c, "probability": p} for c, p in top]}
                            for source, top in self.predictions],
            "input_findings": [f.to_dict() for f in self.input_findings],
            "layers": [layer.to_dict(per_channel) for layer in self.layers],
            "tendency": self.tendency.to_dict(),
            "thresholds": self.thresholds.to_dict(),
            "notes": self.notes,
        })

    def to_json(self, per_channel: bool = True, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(per_channel), indent=indent, allow_nan=False)

    def summary(self) -> str:
        """Input findings, the layer table, the reasons, the predictions and the model tendency, as text."""
        return summary_text(self)

    def __repr__(self) -> str:
        return self.summary()
