"""What every benchmark shares: interleaved rounds, the median ratio with its 95% interval, and the rows
``python -m benchmarks`` gathers into one table.

>>> times = {"a": [2.0, 2.2, 1.8], "b": [1.0, 1.0, 1.0]}
>>> r = ratio_row("a / b", times["a"], times["b"], target="<= 3", meets=lambda v: v <= 3)
>>> r["value"], r["met"], r["rounds"]
(2.0, True, 3)

A suite's script takes ``--quick`` (a run of a minute or two) and ``--json OUT``, and writes
``{"suite": NAME, "rows": [row, ...]}`` there with :func:`write_rows`. A row is a dict: ``measure``
(what is compared, in words), ``value`` (the median of the per-round ratios, or a plain figure),
``low``/``high`` (its 95% bootstrap interval, or None), ``target`` (in words, e.g. ``"<= 1.5"``),
``met`` (True, False, or None where there is no target), ``unit`` (``"x"`` for a ratio) and
``detail`` (absolute times, sizes: what a reader needs to trust the ratio).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

__all__ = ["interleave", "interval", "ratio_row", "figure_row", "write_rows"]


def interleave(contenders: Mapping[str, Callable[[], Any]], rounds: int, seed: int = 0,
               cpu: Optional[dict[str, list[float]]] = None) -> dict[str, list[float]]:
    """Run every contender once a round, in a shuffled order, ``rounds`` times; the seconds of each call.

    Shuffled, not rotated: each contender follows each other as often (what one leaves behind, freed
    memory above all, changes the next one's time). ``cpu``: a dict that also gets the CPU seconds of
    each call (``time.process_time``: every thread of this process, user and system), which other
    processes on a shared machine inflate far less than the wall time.

    >>> cpu = {}
    >>> wall = interleave({"a": lambda: sum(range(1000))}, 2, cpu=cpu)
    >>> len(wall["a"]), len(cpu["a"])
    (2, 2)
    """
    times: dict[str, list[float]] = {key: [] for key in contenders}
    if cpu is not None:
        cpu.update({key: [] for key in contenders})
    order = random.Random(seed)
    for _ in range(rounds):
        for key in order.sample(list(contenders), len(contenders)):
            start, start_cpu = time.perf_counter(), time.process_time()
            contenders[key]()
            times[key].append(time.perf_counter() - start)
            if cpu is not None:
                cpu[key].append(time.process_time() - start_cpu)
    return times


def interval(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A 95% bootstrap interval of the median of ``values`` (what the machine's noise leaves uncertain)."""
    values = list(values)
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    draw = random.Random(seed)
    medians = sorted(statistics.median(draw.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def ratio_row(measure: str, numerator: Sequence[float], denominator: Sequence[float], *, target: str = "",
              meets: Optional[Callable[[float], bool]] = None, detail: str = "") -> dict[str, Any]:
    """The row of a ratio taken within each round (``numerator[i] / denominator[i]``): its median and interval."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    value = statistics.median(ratios)
    low, high = interval(ratios)
    if not detail:
        detail = f"{statistics.median(numerator):.3g} s vs {statistics.median(denominator):.3g} s"
    return {"measure": measure, "value": value, "low": low, "high": high, "target": target,
            "met": None if meets is None else bool(meets(value)), "unit": "x", "rounds": len(ratios),
            "detail": detail}


def figure_row(measure: str, value: float, unit: str, *, target: str = "",
               meets: Optional[Callable[[float], bool]] = None, detail: str = "",
               low: Optional[float] = None, high: Optional[float] = None) -> dict[str, Any]:
    """The row of a plain figure (a size in MB, a time in s, a rate), with its target if it has one."""
    return {"measure": measure, "value": float(value), "low": low, "high": high, "target": target,
            "met": None if meets is None else bool(meets(value)), "unit": unit, "rounds": None, "detail": detail}


def write_rows(path: Optional[str], suite: str, rows: Sequence[Mapping[str, Any]], **extra: Any) -> None:
    """Write ``{"suite", "rows", ...extra}`` to ``path`` (temp file + rename); nothing when ``path`` is None."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump({"suite": suite, "rows": list(rows), **extra}, fh, indent=1, default=str)
    os.replace(tmp, target)
