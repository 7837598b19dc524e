"""Every number the diagnosis judges by, in one documented, overridable dataclass.

>>> Thresholds().with_overrides(["dead_bad=0.4"]).dead_bad
0.4

How each value was chosen is in ``docs/diagnose.md`` (calibration on trained vs
random-init models with ``python -m layerscope.diagnose.calibrate``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from ..errors import InputError

__all__ = ["Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Cut points for channel flags, layer verdicts, input checks and the model tendency.

    Channel flags (each channel gets at most one, in this order of precedence:
    non-finite, exploding, dead, saturated, uniform, noisy):

    - ``active``: a value counts as active when it is above this (0: what a ReLU lets through).
    - dead: no value of the channel is active, over every input and position.
    - ``uniform_rel``: uniform when the channel's spatial std is at most this fraction of the
      layer's typical (median) spatial std.
    - ``noisy``: noisy when the channel's noise score (0 smooth ... 1 white noise, see
      :func:`~layerscope.diagnose.metrics.noise_score`) averaged over inputs is at least this.
    - ``saturated``: saturated when at least this fraction of its values sit on a clamp bound
      of the layer's activation (ReLU6, Hardtanh, Sigmoid, Tanh ...).
    - ``exploding``: exploding when the channel's RMS is at least this many times the
      layer's median channel RMS.

    Layer verdict: ``bad`` when the share of any flag (or of dead + uniform + saturated
    together) is at least ``*_bad``, or any channel is non-finite; ``suspicious`` when a
    share is at least ``*_suspicious`` or a channel explodes; else ``good``.

    Model tendency: the median relative noise (layer noise score over the input's own noise score
    at the layer's resolution) of the layers after the first is "trained" at or below
    ``trained_below``, "untrained" at or above ``untrained_above``; without image inputs the
    absolute noise score is used with ``abs_trained_below`` / ``abs_untrained_above``.
    """

    active: float = 0.0
    uniform_rel: float = 0.01
    noisy: float = 0.8
    saturated: float = 0.9
    saturation_tol: float = 1e-3
    exploding: float = 1000.0
    min_noise_size: int = 4
    dead_suspicious: float = 0.25
    dead_bad: float = 0.5
    uniform_suspicious: float = 0.25
    uniform_bad: float = 0.5
    noisy_suspicious: float = 0.25
    noisy_bad: float = 0.5
    saturated_suspicious: float = 0.25
    saturated_bad: float = 0.5
    inert_bad: float = 0.5
    range_factor: float = 4.0
    normalization_mean: float = 1.5
    normalization_std_low: float = 0.05
    normalization_std_high: float = 5.0
    size_ratio: float = 1.5
    grayscale_corr: float = 0.9999
    channel_order_margin: float = 0.15
    channel_order_inputs: int = 64
    trained_below: float = 0.8
    untrained_above: float = 1.0
    abs_trained_below: float = 0.15
    abs_untrained_above: float = 0.18

    @classmethod
    def names(cls) -> list[str]:
        """Every threshold name, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

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
                import difflib

                close = difflib.get_close_matches(name, fields, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise InputError(
                    f"Unknown threshold {name!r}.{hint} Accepted thresholds: {', '.join(fields)} "
                    f"(see docs/diagnose.md)."
                )
            changes[name] = _number(name, value, int if fields[name].type in ("int", int) else float)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _split(item: str) -> tuple[str, str]:
    name, sep, value = str(item).partition("=")
    if not sep or not name.strip() or not value.strip():
        raise InputError(f"Threshold {item!r} is not NAME=VALUE; write e.g. --threshold dead_bad=0.4")
    return name.strip(), value.strip()


def _number(name: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value) if kind is float else int(str(value))
    except (TypeError, ValueError):
        raise InputError(f"Threshold {name}={value!r} is not a number; write e.g. --threshold {name}=0.5") from None
    if number != number or number < 0:
        raise InputError(f"Threshold {name}={value!r} must be a non-negative number.")
    return number
