"""The diagnosis as text for people (CLI, ``summary()``); its HTML is the presentation tier's (:mod:`layerscope.display.diagnosis`).

>>> _share(0.25), _share(None), _indices(list(range(12)))
('25%', '-', '0, 1, 2, 3, 4, 5, 6, 7, ... (12)')
"""

from __future__ import annotations

import math
from typing import Any, Optional

from ..io.predictions import describe_predictions

__all__ = ["summary_text", "layer_rows", "minor_groups", "COLUMNS"]

COLUMNS = ("layer", "type", "shape", "verdict", "dead", "uniform", "noisy", "saturated", "scale", "eff. rank", "noise")


def _share(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _number(value: Optional[float]) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _indices(idx: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f", ... ({len(idx)})" if len(idx) > limit else "")


def layer_rows(diagnosis: Any) -> list[tuple[str, ...]]:
    """One tuple of strings per layer, in :data:`COLUMNS` order."""
    rows = []
    finest = diagnosis.thresholds.noisy_min_stride
    for layer in diagnosis.layers:
        noise_judged = layer.noise is not None and (layer.stride is None or layer.stride >= finest)
        saturated = layer.shares.get("saturated") if layer.bounds is not None else None
        rank = f"{layer.effective_rank:.3g}/{layer.channels}" if math.isfinite(layer.effective_rank) else "-"
        rows.append((
            layer.name, layer.module_type, "x".join(str(s) for s in layer.shape), layer.verdict,
            _share(layer.shares.get("dead") if layer.rectified else None), _share(layer.shares.get("uniform") if layer.spatial else None),
            _share(layer.shares.get("noisy") if noise_judged else None), _share(saturated),
            _number(layer.scale), rank, _number(layer.noise),
        ))
    return rows


def minor_groups(layers: Any) -> list[str]:
    """The good layers' below-cut-point findings, one line per kind: ``dead: 12 layers (a, b, ...),
    at most 9% of a layer's channels`` instead of one paragraph per layer.

    >>> from types import SimpleNamespace as NS
    >>> f = NS(code="layer.dead", severity="info", values={"share": 0.05})
    >>> minor_groups([NS(name=n, verdict="good", findings=[f]) for n in ("a", "b")])
    ["dead: 2 layers (a, b), at most 5% of a layer's channels"]
    """
    groups: dict[str, list[tuple[str, float]]] = {}
    for layer in layers:
        if layer.verdict != "good":
            continue
        for finding in layer.findings:
            kind = finding.code.rpartition(".")[2]
            groups.setdefault(kind, []).append((layer.name, float(finding.values.get("share", 0.0))))
    lines = []
    for kind, members in groups.items():
        names = [name for name, _ in members]
        shown = ", ".join(names[:6]) + (f", ... ({len(names)})" if len(names) > 6 else "")
        worst = max(share for _, share in members)
        lines.append(f"{kind}: {len(names)} layer{'s' if len(names) > 1 else ''} ({shown}), "
                     f"at most {_share(worst)} of a layer's channels")
    return lines


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [fmt(COLUMNS), *[fmt(r) for r in rows]]


def summary_text(diagnosis: Any) -> str:
    """Input findings first, then the compact layer table, the reasons, and the model tendency."""
    d = diagnosis
    out = [f"layerscope diagnose: {d.model}, {d.inputs} input(s), {len(d.layers)} layer(s)",
           f"verdict: {d.headline}", "", "Inputs:"]
    out += [f"  {f}" for f in d.input_findings] or ["  ok: no problem found with the inputs"]
    out += ["", "Layers:"] + [f"  {line}" for line in _table(layer_rows(d))]
    details = [layer for layer in d.layers if layer.verdict != "good"]
    if details:
        out += ["", "Details:"]
        for layer in details:
            out.append(f"  {layer.name}: {layer.reason}")
            for kind, idx in layer.flagged.items():
                if idx:
                    out.append(f"    {kind} channels: {_indices(idx)}")
    minor = minor_groups(d.layers)
    if minor:
        out += ["", "Minor, below the cut points (grouped):"] + [f"  {line}" for line in minor]
    if d.predictions:
        out += ["", "Predictions (top 3):"] + [f"  {source}: {describe_predictions(top)}" for source, top in d.predictions]
    if d.notes:
        out += ["", "Notes:"] + [f"  {note}" for note in d.notes]
    out += ["", "Model:", f"  {d.tendency.message}", f"  Caveat: {d.tendency.caveat}"]
    return "\n".join(out)
