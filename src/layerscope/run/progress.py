"""The progress of a run: a ``tqdm.auto`` bar (a terminal or a notebook) and, when the run will be long, one line
up front that says so, both on stderr.

>>> import io
>>> err = io.StringIO()
>>> with Progress(100, desc="show", what="3 layers x 100 images on cpu", long_after=0, file=err) as progress:
...     for batch in range(2):
...         progress.start()      # a batch is in hand: its work is timed
...         progress.update(10)   # ... and done: the first warms up, the second gives the estimate
>>> print(err.getvalue().strip())  # doctest: +ELLIPSIS
3 layers x 100 images on cpu: about ... s; --layers (layers=) narrows it
>>> about(250), about(4000)
('about 5 min', 'about 1 h 7 min')

``enabled``: False is silent; True always shows the bar; None (the default) shows it where someone
watches (stderr is a terminal, or a Jupyter kernel: ``tqdm.auto`` then draws a widget) and only once the
run has lasted ``DELAY`` seconds, so short runs print nothing. The estimate is the time of a batch's
work (the forward and what the verb does with it, loading left out) scaled to every input: the median of
the first few batches after the first (which warms up), fewer when the run is short; the line comes
when the estimate reaches ``long_after`` seconds and batches are left.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import field
from typing import Any, Iterable, Iterator, Optional, TextIO, TypeVar

__all__ = ["Progress", "LONG_AFTER", "DELAY", "about", "watched", "progress_field"]

LONG_AFTER = 30.0  # seconds: a run estimated longer says so up front
DELAY = 3.0  # seconds: a bar shown by default appears once the run has lasted this long
SAMPLES = 3  # timed updates whose median gives the estimate
T = TypeVar("T")


def progress_field() -> Any:
    """The ``progress`` field of an option object (None: the default rule, True, False) and its
    ``--progress/--no-progress`` flag: one definition for :class:`~layerscope.run.RunOptions` and the verbs that loop
    outside a run (``VisualizeOptions``)."""
    return field(default=None, metadata={
        "help": "a progress bar on stderr (default: in a terminal or notebook, once the run has lasted a few "
        "seconds); --no-progress: no bar and no estimate of a long run", "flag": "--progress",
        "action": argparse.BooleanOptionalAction})


def about(seconds: float) -> str:
    """A duration for people, rounded up: ``about 40 s``, ``about 4 min``, ``about 2 h 5 min``."""
    if seconds < 60:
        return f"about {max(1, math.ceil(seconds))} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


def watched(stream: Optional[TextIO] = None) -> bool:
    """Whether someone watches ``stream`` (default stderr): a terminal, or a Jupyter kernel (where
    ``tqdm.auto`` picks its notebook widget)."""
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or minimal stream
        pass
    from tqdm.asyncio import tqdm as console  # third-party, loaded when a run asks
    from tqdm.auto import tqdm

    return tqdm is not console  # tqdm.auto's console class; in a notebook, a subclass of the widget one


class Progress:
    """A bar over ``total`` units (None: unknown; no estimate then) and the estimate line; see the module docstring.

    ``what`` names the run's size for the estimate line (``"49 layers x 13 images on cpu"``; empty: no
    line); ``hint`` says how to make it shorter. Call :meth:`start` when a unit's work begins (the
    first call starts the clock of the estimate), :meth:`update` when ``count`` units are done.
    """

    def __init__(self, total: Optional[int], *, desc: str, unit: str = "input", enabled: Optional[bool] = None,
                 what: str = "", hint: str = "--layers (layers=) narrows it", long_after: float = LONG_AFTER,
                 initial: int = 0, file: Optional[TextIO] = None) -> None:
        self.total, self.what, self.hint, self.long_after = total, what, hint, long_after
        self.enabled = enabled
        self.file = sys.stderr if file is None else file
        self.estimate: Optional[float] = None  # seconds, once the first unit is done
        self._began: Optional[float] = None
        self._done = self._initial = initial
        self._warming = True
        self._per_unit: list[float] = []
        self._timed_units = 0
        self.bar: Any = None
        if enabled is True or (enabled is None and watched(self.file)):
            from tqdm.auto import tqdm  # third-party, loaded when a bar is shown

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.file, leave=False,
                            dynamic_ncols=True, smoothing=0.1, delay=0 if enabled else DELAY)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def start(self) -> None:
        """A unit's work begins: its clock starts (loading before it is left out)."""
        self._began = time.perf_counter()

    def update(self, count: int) -> None:
        """``count`` more units are done; once timed units say what the run will take, the estimate (and its line
        when long). See :meth:`_timed` for which units are timed."""
        if count <= 0:
            return
        self._done += count
        began, self._began = self._began, None
        if self.estimate is None and began is not None and self._timed(time.perf_counter() - began, count):
            self.estimate = statistics.median(self._per_unit) * ((self.total or self._initial) - self._initial)
            left = self._left()
            if self.enabled is not False and self.what and left and self.estimate >= self.long_after:
                self.say(f"{self.what}: {about(self.estimate)}; {self.hint}")
        if self.bar is not None:
            self.bar.update(count)

    def _left(self) -> Optional[int]:
        return None if self.total is None else self.total - self._done

    def _timed(self, seconds: float, count: int) -> bool:
        """Keep the time per unit of these ``count`` units; whether the estimate is due. The first units warm
        up (allocations, lazy set-up) and are left out while enough are left; then the median of up to
        ``SAMPLES`` updates (a busy machine makes one alone off by several times), or fewer when a tenth
        of the run is timed or the run is about to end."""
        left = self._left()
        ending = left is None or left < 2 * count
        if self._warming and not ending:
            self._warming = False
            return False
        self._per_unit.append(seconds / count)
        self._timed_units += count
        return ending or len(self._per_unit) >= SAMPLES or 10 * self._timed_units >= (self.total or 0)

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, one unit each (timed from when it is handed out to when the next is asked for); closes at the end.

        >>> [i for i in Progress(3, desc="steps", enabled=False).each(range(3))]
        [0, 1, 2]
        """
        try:
            for item in items:
                self.start()
                yield item
                self.update(1)
        finally:
            self.close()

    def say(self, line: str) -> None:
        """One line on stderr, above the bar."""
        if self.bar is not None:
            self.bar.write(line, file=self.file)
        else:
            print(line, file=self.file, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
