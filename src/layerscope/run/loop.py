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
user's back: see :class:`~layerscope.run.subject.Subject`), and progress (:mod:`layerscope.run.progress`:
a ``tqdm.auto`` bar in a terminal and in a notebook, and one line up front when the run will be long,
estimated from its first batch; the verb names the run with ``desc``). A verb iterates it and turns each :class:`Step` into its result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

from ..capturing.activations import Activations
from ..capturing.recorder import Recorder
from ..errors import LayerscopeError
from ..io.feed import Feed
from ..io.predictions import Predictions
from ..io.shard import Shard
from .options import RunOptions
from .progress import Progress
from .subject import Subject

__all__ = ["Run", "Step"]


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
        with Recorder(self.subject.module, self.layers, **self.recorder) as rec, self.progress() as progress:
            for number, batch in enumerate(self.feed):
                progress.start()
                acts = rec(batch)
                sources = self.feed.sources[start : self.feed.count]
                yield Step(number, start, batch, acts, sources, self.subject)
                progress.update(len(sources))  # the verb is done with the step: its time is in the estimate
                start = self.feed.count

    def progress(self) -> Progress:
        """The run's :class:`~layerscope.run.progress.Progress` over its inputs (a bar and, when long, an estimate):
        ``"49 layers x 13 images on cpu: about 4 min; --layers (layers=) narrows it"``."""
        total = _inputs_known(self.feed)
        kind = "images" if self.feed.from_images else "inputs"
        what = f"{len(self.layers)} layers x {total} {kind} on {self.subject.device}" if total else ""
        return Progress(total, desc=self.desc, unit=kind[:-1], enabled=self.options.progress, what=what,
                        long_after=self.options.long_after)


def feed_of(inputs: Any, subject: Subject, options: RunOptions) -> Feed:
    """``inputs`` as a :class:`~layerscope.io.feed.Feed` with the subject's preprocessing and the run's loading options
    (a Feed the caller made keeps its own loading options)."""
    if isinstance(inputs, Feed):
        return Feed.of(inputs, subject.preprocessing, options.batch_size)
    return Feed(inputs, subject.preprocessing, options.batch_size, strict=options.strict,
                recursive=options.recursive, max_pixels=options.max_pixels, workers=options.workers)


def _inputs_known(feed: Feed) -> Optional[int]:
    """The number of inputs when it is known before reading (a tensor, files, a sized dataset or loader, a video
    that declares its frames), else None. Cheap: files are listed, nothing is decoded."""
    try:
        return feed.source().shard_size(Shard())
    except (LayerscopeError, OSError):  # an input that cannot be read fails where the run reads it, with its error
        return None
