"""The one loop every verb consumes: inputs in batches through the :class:`Subject`'s model, captured once.

>>> import torch, torch.nn as nn
>>> subject = Subject.of(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
>>> run = Run(subject, torch.rand(5, 3, 8, 8), RunOptions(batch_size=2))
>>> [(step.number, step.start, len(step), tuple(step.acts["1"].shape)) for step in run]
[(0, 0, 2, (2, 4, 6, 6)), (1, 2, 2, (2, 4, 6, 6)), (2, 4, 1, (1, 4, 6, 6))]
>>> run.feed.count, run.feed.sources[:2]
(5, ['<tensor>', '<tensor>'])

:class:`Run` owns the :class:`~layerscope.io.feed.Feed` (every input kind, one protocol), the
:class:`~layerscope.capturing.Recorder` (hooks removed when the loop ends, also on an error or a
``break``), device placement (inputs go to the model, never the model to a device behind the
user's back: see :class:`~layerscope.run.subject.Subject`), and progress (``tqdm.auto``, in a
terminal and in a notebook). A verb iterates it and turns each :class:`Step` into its result.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from ..capturing.activations import Activations
from ..capturing.recorder import Recorder
from ..io.feed import Feed
from ..io.predictions import Predictions
from .options import RunOptions
from .subject import Subject

__all__ = ["Run", "Step", "PROGRESS_AFTER"]

PROGRESS_AFTER = 4  # batches: a run with more shows a progress bar (RunOptions.progress=None)


@dataclass
class Step:
    """One batch of a run: its ``number``, the index of its first input (``start``), the ``batch`` as
    the model took it, the captured ``acts`` (``acts.output`` is the model's output) and the ``sources``
    of its inputs (paths, or ``<tensor>``)."""

    number: int
    start: int
    batch: Any
    acts: Activations
    sources: list[str]
    subject: Subject

    def __len__(self) -> int:
        return len(self.sources)

    def predictions(self, k: int = 3) -> list[Optional[Predictions]]:
        """Per input, the model's top-``k`` classes (None each when the output is not class scores)."""
        return self.subject.predictions(self.acts.output, k) or [None] * len(self)


class Run:
    """Iterate to get one :class:`Step` per batch; ``feed`` says what was read and skipped.

    ``recorder`` keywords go to :class:`~layerscope.capturing.Recorder` (``grad``, ``offload``, ``dtype``,
    ``stop_early``, ``restore_buffers``). ``layers`` (names) narrows the subject's layers for this run.
    """

    def __init__(self, subject: Subject, inputs: Any, options: Optional[RunOptions] = None, *,
                 layers: Optional[list[str]] = None, desc: str = "layerscope", **recorder: Any) -> None:
        self.subject, self.options = subject, RunOptions.of(options)
        self.layers = list(subject.layers if layers is None else layers)
        self.feed = feed_of(inputs, subject, self.options)
        self.desc, self.recorder = desc, recorder

    def __iter__(self) -> Iterator[Step]:
        start = 0
        with Recorder(self.subject.module, self.layers, **self.recorder) as rec:
            for number, batch in enumerate(self._progress(self.feed)):
                acts = rec(batch)
                sources = self.feed.sources[start : self.feed.count]
                yield Step(number, start, batch, acts, sources, self.subject)
                start = self.feed.count

    def _progress(self, batches: Any) -> Any:
        show = self.options.progress
        if show is False:
            return batches
        total = _batches_known(self.feed)
        if show is None and (total is None or total <= PROGRESS_AFTER or not sys.stderr.isatty()):
            return batches
        from tqdm.auto import tqdm

        return tqdm(batches, total=total, desc=self.desc, unit="batch", leave=False)


def feed_of(inputs: Any, subject: Subject, options: RunOptions) -> Feed:
    """``inputs`` as a :class:`~layerscope.io.feed.Feed` with the subject's preprocessing and the run's loading options
    (a Feed the caller made keeps its own loading options)."""
    if isinstance(inputs, Feed):
        return Feed.of(inputs, subject.preprocessing, options.batch_size)
    return Feed(inputs, subject.preprocessing, options.batch_size, strict=options.strict,
                recursive=options.recursive, max_pixels=options.max_pixels, workers=options.workers)


def _batches_known(feed: Feed) -> Optional[int]:
    """The number of batches when it is known before reading (a tensor, a list, a sized dataset), else None
    (a path, a folder or a video: their count is known once listed)."""
    inputs = feed.inputs
    if isinstance(inputs, (str, bytes, os.PathLike)):
        return None
    try:
        count = len(inputs) if not hasattr(inputs, "shape") else int(inputs.shape[0])
    except TypeError:
        return None
    return -(-count // feed.batch_size)
