"""What a probe found: accuracy against depth with intervals, the chance level, and channel selectivity.

>>> import numpy as np
>>> row = LayerProbe("fc", 2, np.array([0.5, 1.0]), np.array([[1.0, -1.0], [0.0, 3.0]]))
>>> row.accuracy, row.top_classes(["a", "b"])
(0.75, [('a', 1.0), ('b', 3.0)])
>>> result = ProbeResult("m", [row], ["a", "b"], chance=0.5, inputs=10, folds=2, seed=0, pool="mean")
>>> print(result.table())
layer   channels  accuracy  95% interval    folds
fc             2     0.750  [0.000, 1.000]  0.500 1.000
chance               0.500

``ProbeResult.save(out)`` writes ``probe.json`` (everything, with each channel's top class and its d'),
``probe.csv`` (the table), ``probe.png`` (accuracy against depth with the interval band and the chance
line) and ``selectivity.npz`` (each layer's full channels x classes d').
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from ..core.outputs import OutputFolder
from ..core.results import Result
from .fit import INTERVAL, interval

__all__ = ["LayerProbe", "ProbeResult", "probe_figure"]


@dataclass
class LayerProbe:
    """One layer's probe: its channel count, the fold accuracies and the d' of each channel for each class."""

    layer: str
    channels: int
    scores: np.ndarray
    selectivity: np.ndarray  # (channels, classes)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.scores))

    @property
    def interval(self) -> tuple[float, float]:
        return interval(self.scores)[1:]

    def top_classes(self, classes: Sequence[str]) -> list[tuple[str, float]]:
        """Per channel, the class it is most selective for and that d' (a channel without a finite d': nan)."""
        out = []
        for row in self.selectivity:
            finite = np.where(np.isnan(row), -np.inf, row)
            k = int(np.argmax(finite))
            out.append((classes[k], float(row[k])))
        return out

    def to_dict(self, classes: Sequence[str]) -> dict[str, Any]:
        low, high = self.interval
        return {"layer": self.layer, "channels": self.channels, "accuracy": self.accuracy, "low": low, "high": high,
                "folds": [float(s) for s in self.scores],
                "top_class": [{"class": k, "d_prime": _json_float(v)} for k, v in self.top_classes(classes)]}


def _json_float(value: float) -> Any:
    return value if math.isfinite(value) else str(value)


@dataclass
class ProbeResult(Result):
    """Per layer (in depth order) a :class:`LayerProbe`; ``chance`` is the most frequent class's share."""

    model: str
    layers: list[LayerProbe]
    classes: list[str]
    chance: float
    inputs: int
    folds: int
    seed: int
    pool: str
    counts: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    not_probed: dict[str, str] = field(default_factory=dict)
    seconds: Optional[float] = None

    index_name = "probe.json"

    def __getitem__(self, layer: str) -> LayerProbe:
        for row in self.layers:
            if row.layer == layer:
                return row
        raise KeyError(layer)

    @property
    def accuracy(self) -> dict[str, float]:
        """Mean held-out accuracy per layer."""
        return {row.layer: row.accuracy for row in self.layers}

    def table(self) -> str:
        """The plain-text table: layer, channels, mean accuracy, its interval, the fold accuracies; then chance."""
        head = ["layer", "channels", "accuracy", "95% interval", "folds"]
        rows = [[r.layer, str(r.channels), f"{r.accuracy:.3f}", "[{:.3f}, {:.3f}]".format(*r.interval),
                 " ".join(f"{s:.3f}" for s in r.scores)] for r in self.layers]
        rows.append(["chance", "", f"{self.chance:.3f}", "", ""])
        width = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
        right = {1, 2}
        lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, width)))
                 for line in [head, *rows]]
        return "\n".join(line.rstrip() for line in lines)

    def summary(self) -> str:
        took = f" in {self.seconds:.1f} s" if self.seconds is not None else ""
        return (f"probe of {self.model}: {len(self.layers)} layers, {self.inputs} inputs, {len(self.classes)} classes, "
                f"{self.folds}-fold logistic regression on {self.pool}-pooled channels{took}\n{self.table()}")

    def __repr__(self) -> str:
        return f"<ProbeResult {self.model}: " + ", ".join(f"{k} {v:.3f}" for k, v in self.accuracy.items()) + ">"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "classes": list(self.classes), "counts": list(self.counts), "inputs": self.inputs,
                "chance": self.chance, "folds": self.folds, "seed": self.seed, "pool": self.pool,
                "interval": INTERVAL, "classifier": "multinomial logistic regression on standardized features "
                "(scikit-learn), stratified shuffled folds",
                "selectivity": "d' = (mean on class - mean on others) / sqrt((var on class + var on others) / 2)",
                "seconds": self.seconds, "layers": [row.to_dict(self.classes) for row in self.layers],
                "skipped": [list(s) for s in self.skipped], "not_probed": dict(self.not_probed)}

    def csv(self) -> str:
        """The table as CSV: layer, channels, accuracy, low, high, then one column per fold."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["layer", "channels", "accuracy", "low", "high", *[f"fold{i}" for i in range(self.folds)]])
        for r in self.layers:
            writer.writerow([r.layer, r.channels, f"{r.accuracy:.6f}", *(f"{v:.6f}" for v in r.interval),
                             *(f"{s:.6f}" for s in r.scores)])
        return buffer.getvalue()

    def png(self, *others: "ProbeResult") -> bytes:
        """Accuracy against depth with the interval band and the chance line (``others`` drawn on the same axes)."""
        return probe_figure([self, *others])

    def write_files(self, folder: OutputFolder) -> None:
        folder.write(self.csv().encode(), "probe.csv")
        folder.write(self.png(), "probe.png")
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {"_classes": np.asarray(self.classes), **{r.layer: r.selectivity for r in self.layers}}
        np.savez(buffer, **arrays)
        folder.write(buffer.getvalue(), "selectivity.npz")


def probe_figure(results: Sequence[ProbeResult], *, dpi: int = 100) -> bytes:
    """PNG bytes of accuracy (mean over folds) against layer depth, one line and t-interval band per result."""
    from matplotlib.figure import Figure  # no pyplot: no global state, the Agg canvas of savefig

    first = results[0]
    fig = Figure(figsize=(max(4.0, 0.9 * len(first.layers) + 2), 3.4), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    for result in results:
        depth = np.arange(len(result.layers))
        mean = [r.accuracy for r in result.layers]
        low, high = zip(*(r.interval for r in result.layers)) if result.layers else ((), ())
        line = ax.plot(depth, mean, marker="o", label=result.model)[0]
        ax.fill_between(depth, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(first.chance, color="0.4", linestyle="--", linewidth=1, label=f"chance {first.chance:.2f}")
    ax.set_xticks(np.arange(len(first.layers)), [r.layer for r in first.layers], rotation=30, ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(f"held-out accuracy ({first.folds}-fold)")
    ax.set_title(f"linear probe, {first.pool}-pooled channels, 95% t-interval", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
