"""The probe's data: each chosen layer's activations pooled over space, and one label per input, in one run.

>>> import torch, torch.nn as nn
>>> from layerscope.run import Subject
>>> subject = Subject.of(nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU()))
>>> seen = collect(subject, torch.ones(3, 1, 4, 4), labels=[0, 1, 1])
>>> {name: f.shape for name, f in seen.features.items()}, seen.y.tolist(), seen.classes
({'1': (3, 2)}, [0, 1, 1], ['0', '1'])

The inputs are read by :func:`~layerscope.io.inputs.resolve_source` (so an ImageFolder tree gives its
folder names as classes, a Dataset of ``(x, y)`` its ``y``) and run through the spine
(:class:`~layerscope.run.Run` with its :class:`~layerscope.run.Subject`); each layer's tensor becomes maps
with :class:`~layerscope.run.LayerMaps` (a token layer: its patch grid) and is pooled to one value per channel:
``mean`` or ``max`` over the positions; a vector layer (``NC``, a ``Linear``'s output) is taken as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..io.inputs import resolve_source
from ..io.shard import Shard
from ..run import LayerMaps, Run, RunOptions, Subject

__all__ = ["Collected", "collect", "POOLS", "read_labels"]

POOLS = ("mean", "max")


@dataclass
class Collected:
    """Pooled features per layer (float32 (N, C)), the labels ``y`` (int64 (N,), positions in ``classes``),
    the class names, the source of each input and the inputs skipped (source, reason)."""

    features: dict[str, np.ndarray]
    y: np.ndarray
    classes: list[str]
    sources: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    not_maps: dict[str, str] = field(default_factory=dict)


def read_labels(path: Any) -> list[str]:
    """The labels of a text file, one per line (blank lines ignored).

    >>> import tempfile, pathlib; f = pathlib.Path(tempfile.mkdtemp()) / "y.txt"; _ = f.write_text("cat\\ndog\\n\\n")
    >>> read_labels(f)
    ['cat', 'dog']
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"Cannot read the labels file {os.fspath(path)}: {err.strerror or err}. Give a text file "
                         "with one label per line, in the order of the inputs.") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _given(labels: Any) -> Optional[list]:
    if labels is None:
        return None
    if isinstance(labels, (str, os.PathLike)):
        return read_labels(labels)
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    values = np.asarray(labels)
    if values.ndim != 1:
        raise InputError(f"labels must be one label per input (a list or 1-D array), got shape {values.shape}.")
    return values.tolist()


def _classes(values: list, source_classes: Optional[Sequence[str]]) -> tuple[np.ndarray, list[str]]:
    """Labels as positions in the class list: ints with the source's class names (else their own numbers),
    anything else by sorted name."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        y = np.asarray(values, dtype=np.int64)
        if source_classes and y.min() >= 0 and y.max() < len(source_classes):
            return y, [str(c) for c in source_classes]
        present = np.unique(y)
        return np.searchsorted(present, y).astype(np.int64), [str(int(v)) for v in present]
    names = sorted({str(v) for v in values})
    return np.asarray([names.index(str(v)) for v in values], dtype=np.int64), names


def collect(subject: Subject, data: Any, *, labels: Any = None, pool: str = "mean",
            options: Optional[RunOptions] = None) -> Collected:
    """Run ``subject`` over ``data`` once and pool each of its layers (see the module docstring).

    ``labels``: None (the data's own: ImageFolder classes, a Dataset's ``(x, y)``), a sequence with one label
    per input of ``data`` (ints or names), or a text file of them, one per line.
    """
    if pool not in POOLS:
        raise InputError(f"pool={pool!r} is not a pooling; use one of {', '.join(POOLS)}.")
    options = RunOptions.of(options)
    source = resolve_source(data, subject.preprocessing, recursive=options.recursive, max_pixels=options.max_pixels)
    given = _given(labels)
    if given is not None and source.size is not None and len(given) != source.size:
        raise InputError(f"{len(given)} labels were given for {source.size} inputs; give one label per input, in "
                         "their order.")
    index: list[int] = []
    found: list = []
    skipped: list[tuple[str, str]] = []

    def batches() -> Iterator[torch.Tensor]:
        for batch in source.batches(Shard(), 0, options.batch_size, options.workers):
            for i, reason in batch.skipped:
                if options.strict:
                    raise InputError(f"{source.source_of(i)}: {reason}")
                skipped.append((source.source_of(i), reason))
            if batch.inputs is not None:
                index.extend(batch.index.tolist())
                found.extend(batch.labels)
                yield batch.inputs

    reader = LayerMaps(subject.layouts)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in subject.layers}
    for step in Run(subject, batches(), options, desc="probe"):
        size = tuple(step.batch.shape[-2:]) if isinstance(step.batch, torch.Tensor) and step.batch.dim() == 4 else None
        for name in subject.layers:
            if name not in step.acts:
                continue
            maps = reader.maps(name, step.acts[name], step.acts.describe(name), size)
            if maps is not None:
                grid = maps.maps.float()
                if maps.layout == "NC":  # a vector is drawn as a 1-pixel-high strip: its entries are the channels
                    pooled = grid.flatten(1)
                else:
                    pooled = grid.mean((2, 3)) if pool == "mean" else grid.amax((2, 3))
                parts[name].append(pooled.cpu().numpy())
    features = {name: np.concatenate(p) for name, p in parts.items() if p}
    if not features:
        why = "; ".join(f"{k}: {v}" for k, v in reader.skipped.items()) or "the layers did not run"
        raise InputError(f"No layer could be probed ({why}). Choose other layers (layers=, --layers).")
    if given is not None:
        if index and max(index) >= len(given):
            raise InputError(f"{len(given)} labels were given for at least {max(index) + 1} inputs; give one label "
                             "per input, in their order.")
        values = [given[i] for i in index]
    elif any(v is None for v in found):
        raise InputError("The data carries no labels: pass labels= (--labels FILE: one label per line, in the order "
                         "of the inputs), an ImageFolder tree (one folder per class), or a Dataset returning (x, y).")
    else:
        values = found
    y, classes = _classes(values, source.classes)
    return Collected(features, y, classes, [source.source_of(i) for i in index], skipped, dict(reader.skipped))
