"""Every number the diagnosis judges by, in one documented, overridable dataclass.

>>> Thresholds().with_overrides(["dead_bad=0.4"]).dead_bad
0.4

How each value was chosen is in ``docs/diagnose.md`` (calibration on trained vs
random-init models with ``python tools/calibrate.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from ..errors import InputError, did_you_mean

__all__ = ["Thresholds"]


def _share(default: float) -> Any:
    """A field holding a share / fraction (0 ... 1): values above 1 are refused, ``20%`` is accepted."""
    return dataclasses.field(default=default, metadata={"share": True})


@dataclass(frozen=True)
class Thresholds:
    """Cut points for channel flags, layer verdicts, input checks and the model tendency.

    Channel flags (each channel gets at most one, in this order of precedence:
    non-finite, exploding, dead, saturated, uniform, noisy):

    - ``active``: a value counts as active when it is above this (0: what a ReLU lets through).
    - dead: no value of the channel is active, over every input and position, and (where a trained
      BatchNorm feeds the rectifier, see :func:`~layerscope.diagnosis.metrics.expected_firing`) its
      BatchNorm says it fired on at most ``dead_firing`` of the positions in training too. Silent channels
      whose BatchNorm expects more are *selective* (the inputs lack what they detect), not dead.
    - ``uniform_rel``: uniform when the channel's spatial std is at most this fraction of the
      layer's typical (median) spatial std.
    - ``noisy``: noisy when the channel's noise score (0 smooth ... 1 white noise, see
      :func:`~layerscope.stats.noise_score`) averaged over inputs is at least this, on maps at least
      ``noisy_min_stride`` times coarser than the input (finer maps of a trained network carry the
      image's own fine detail, and random-init ones are smooth there: noise there tells neither).
      Maps smaller than ``min_noise_size`` a side get no score; of each batch, a layer scores the maps of
      its first inputs only, as many as fit in ``noise_values`` map values (at least one input): the
      score is a mean over inputs, and scoring every map of a wide early layer costs more than the forward.
    - ``saturated``: saturated when at least this fraction of its values sit on a clamp bound
      of the layer's activation (ReLU6, Hardtanh, Sigmoid, Tanh ...).
    - ``exploding``: exploding when the channel's RMS is at least this many times the
      layer's median channel RMS.

    Layer verdict: ``bad`` when the share of any flag (or of dead + uniform + saturated
    together) is at least ``*_bad``, or any channel is non-finite; ``suspicious`` when a
    share is at least ``*_suspicious`` or a channel explodes; else ``good``.

    Input checks (``docs/diagnose.md`` has the calibration): ``range_factor`` (values beyond this many
    times the largest a normalized [0, 1] image reaches: 0-255 pixels); ``normalization_range_low``
    (largest magnitude below this share of it: normalized with a too-large std, e.g. 0.5/0.5 instead of
    ImageNet's); ``normalization_pixel_tol`` (values that, with the model's normalization undone, leave
    [0, 1] by more than this); ``normalization_mean`` / ``normalization_std_low`` / ``normalization_std_high``
    (channel mean / std limits); ``mean_std_tol`` (a chosen mean/std differing from the model's by more
    than this, in units of the model's std); ``size_ratio``; ``grayscale_corr``; ``constant_std``
    (images whose pixels vary by less than this, on the 0-1 scale, are constant); ``input_noise``
    (mean noise score of the inputs from which they look like noise); ``channel_order_margin``,
    ``channel_order_chance`` (predictions this share of the way from chance to certainty or less are
    "near chance": the BGR check is skipped) and ``channel_order_inputs``. From BatchNorm statistics
    (:mod:`~layerscope.diagnosis.fingerprint`, on the first ``bn_inputs`` inputs at the first ``bn_layers``
    BatchNorm layers): a corrected variant of the inputs is flagged when its score is at most ``bn_ratio``
    (0-255, mean/std) or ``bn_order_ratio`` (red and blue swapped) times the score as given, and the score as
    given is at least ``bn_floor``.

    Shares (fractions 0 ... 1, see :meth:`shares`) refuse values above 1 and accept ``20%``.

    Model tendency, from the weights first (no data; :mod:`~layerscope.diagnosis.weights`, calibrated by
    ``python tools/calibrate_weights.py``): ``weights_bn_at_init`` (share of BatchNorm layers still at their
    initial running statistics from which the model is untrained); ``weights_heavy_ratio`` (a weight matrix is
    heavy-tailed when its top eigenvalue is at least this many times the Marchenko-Pastur edge of a random
    matrix of its shape and scale; random ones stay under 1.35); ``weights_heavy_trained`` /
    ``weights_heavy_untrained`` (share of heavy-tailed matrices from which the model is trained / up to which
    it is untrained); ``weights_smooth_trained`` / ``weights_smooth_untrained`` (neighbour correlation of the
    first convolution's taps from which its filters are smooth / up to which they are white noise).
    Then, when the weights do not decide, for a classifier the top-class probability of its most confident
    input, placed between chance (0) and certainty (1): "trained" at or above ``trained_confidence``
    (``untrained_confidence``: at most this is "near chance" in the wording, never "untrained" alone);
    otherwise (and for other models) the median relative noise (layer noise score over the input's own noise
    score at the layer's resolution) of the layers after the first is "trained" at or below
    ``trained_below``, "untrained" at or above ``untrained_above``; without image inputs the
    absolute noise score is used with ``abs_trained_below`` / ``abs_untrained_above``.
    """

    active: float = 0.0
    dead_firing: float = _share(1e-3)
    uniform_rel: float = _share(0.01)
    noisy: float = 0.8
    noisy_min_stride: float = 32.0
    saturated: float = _share(0.9)
    saturation_tol: float = 1e-3
    exploding: float = 1000.0
    min_noise_size: int = 4
    noise_values: int = 1 << 18
    dead_suspicious: float = _share(0.25)
    dead_bad: float = _share(0.5)
    uniform_suspicious: float = _share(0.25)
    uniform_bad: float = _share(0.5)
    noisy_suspicious: float = _share(0.25)
    noisy_bad: float = _share(0.5)
    saturated_suspicious: float = _share(0.25)
    saturated_bad: float = _share(0.5)
    inert_bad: float = _share(0.5)
    range_factor: float = 4.0
    normalization_range_low: float = _share(0.45)
    normalization_pixel_tol: float = 0.25
    normalization_mean: float = 2.0
    normalization_std_low: float = 0.05
    normalization_std_high: float = 3.0
    mean_std_tol: float = 0.1
    size_ratio: float = 1.5
    grayscale_corr: float = _share(0.9999)
    constant_std: float = 0.004
    input_noise: float = 0.5
    channel_order_margin: float = _share(0.15)
    channel_order_chance: float = _share(0.1)
    channel_order_inputs: int = 64
    bn_layers: int = 3
    bn_inputs: int = 16
    bn_floor: float = 0.05
    bn_ratio: float = _share(0.4)
    bn_order_ratio: float = _share(0.65)
    untrained_confidence: float = _share(0.1)
    trained_confidence: float = _share(0.25)
    trained_below: float = 0.8
    untrained_above: float = 1.0
    abs_trained_below: float = 0.15
    abs_untrained_above: float = 0.18
    weights_bn_at_init: float = _share(0.5)
    weights_heavy_ratio: float = 1.5
    weights_heavy_trained: float = _share(0.25)
    weights_heavy_untrained: float = _share(0.05)
    weights_smooth_trained: float = 0.15
    weights_smooth_untrained: float = 0.08

    @classmethod
    def names(cls) -> list[str]:
        """Every threshold name, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def shares(cls) -> list[str]:
        """The names that hold a share or fraction (0 ... 1)."""
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("share")]

    def with_overrides(self, overrides: Union[Mapping[str, Any], Iterable[str], None]) -> "Thresholds":
        """A copy with some values replaced: a mapping, or ``"name=value"`` strings (CLI ``--threshold``).

        >>> Thresholds().with_overrides({"noisy": 0.7}).noisy
        0.7
        """
        if not overrides:
            return self
        pairs = overrides.items() if isinstance(overrides, Mapping) else (_split(item) for item in overrides)
        changes: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(self)}
        for name, value in pairs:
            if name not in fields:
                raise InputError(
                    f"Unknown threshold {name!r}.{did_you_mean(name, fields, n=1, cutoff=0.6)} Accepted thresholds: {', '.join(fields)} "
                    f"(see docs/diagnose.md)."
                )
            kind = int if fields[name].type in ("int", int) else float
            changes[name] = _number(name, value, kind, share=bool(fields[name].metadata.get("share")))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _split(item: str) -> tuple[str, str]:
    name, sep, value = str(item).partition("=")
    if not sep or not name.strip() or not value.strip():
        raise InputError(f"Threshold {item!r} is not NAME=VALUE; write e.g. --threshold dead_bad=0.4")
    return name.strip(), value.strip()


def _number(name: str, value: Any, kind: type, share: bool = False) -> Any:
    text = str(value).strip()
    percent = kind is float and text.endswith("%")
    try:
        number = float(text[:-1]) / 100 if percent else kind(value) if kind is float else int(text)
    except (TypeError, ValueError):
        raise InputError(f"Threshold {name}={value!r} is not a number; write e.g. --threshold {name}=0.5") from None
    if number != number or number < 0:
        raise InputError(f"Threshold {name}={value!r} must be a non-negative number.")
    if share and number > 1:
        hint = f"write --threshold {name}={text}% " if not percent else "write at most 100% "
        raise InputError(f"Threshold {name}={text} is a share from 0 to 1, so {text} can never be reached; "
                         f"{hint}(or the fraction, e.g. {name}=0.2 for 20%).")
    return number
