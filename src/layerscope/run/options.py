"""How a run reads and feeds its inputs (:class:`RunOptions`) and where it writes (:class:`OutputOptions`).

>>> RunOptions(batch_size=4).replace(device="cpu").device
'cpu'
>>> RunOptions(batch_size=0)
Traceback (most recent call last):
...
layerscope.errors.InputError: batch_size=0 must be an int of at least 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import torch

from ..core.options import Options, positive_int
from ..errors import InputError
from ..io.images import DEFAULT_MAX_PIXELS
from .progress import LONG_AFTER, progress_field

__all__ = ["RunOptions", "OutputOptions"]


def _pixels(text: str) -> Optional[int]:
    return None if text.lower() in ("none", "0", "unlimited") else int(text)


@dataclass(frozen=True)
class RunOptions(Options):
    """The settings every verb's run shares: batching, device, loading and progress.

    ``device``: where the inputs go; None: the model's own device. A model that layerscope loaded
    from a spec is moved there; a module you pass is never moved behind your back (a mismatch is an
    error that says so). ``progress``: None shows a progress bar (``tqdm.auto``: terminal and
    notebook) once a run has lasted a few seconds, True from the start, False never (nor the
    estimate line); ``long_after``: a run whose first batch says it will take longer (seconds) says so
    on stderr up front (see :mod:`layerscope.run.progress`). ``strict``: an unreadable image is an error
    instead of a skipped input. ``recursive``: folders are searched below their top level.
    ``max_pixels``: larger images are refused (decompression bombs).
    """

    batch_size: int = field(default=8, metadata={"help": "inputs per forward pass (default 8)", "type": int})
    device: Optional[str] = field(default=None, metadata={
        "help": "run on this device (cpu, cuda, cuda:1, mps); default: where the model is"})
    workers: int = field(default=0, metadata={"help": "data-loading worker processes (default 0: in this process)",
                                             "type": int})
    progress: Optional[bool] = progress_field()
    long_after: float = field(default=LONG_AFTER, metadata={
        "help": f"say up front when the run will take longer than this many seconds (default {LONG_AFTER:g})",
        "type": float, "metavar": "S"})
    strict: bool = field(default=False, metadata={"help": "an unreadable image file is an error, not a skip",
                                                   "action": "store_true"})
    recursive: bool = field(default=False, metadata={"help": "search folders below their top level",
                                                      "action": "store_true"})
    max_pixels: Optional[int] = field(default=DEFAULT_MAX_PIXELS, metadata={
        "help": "refuse images with more pixels (default about 9459x9459; 'none': no limit)", "type": _pixels})

    def __post_init__(self) -> None:
        positive_int(self, "batch_size")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise InputError(f"workers={self.workers!r} must be an int of at least 0.")
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise InputError(f"device={self.device!r} is not a torch device; use cpu, cuda, cuda:1 or mps.") from None
        positive_int(self, "max_pixels", allow_none=True)
        if isinstance(self.long_after, bool) or not isinstance(self.long_after, (int, float)) or self.long_after < 0:
            raise InputError(f"long_after={self.long_after!r} must be a number of seconds of at least 0.")


@dataclass(frozen=True)
class OutputOptions(Options):
    """Where a result is written: ``out`` (None: nothing is written) and whether files there that
    layerscope did not write may be replaced (``overwrite``; see :mod:`layerscope.core.outputs`)."""

    out: Union[str, Path, None] = None
    overwrite: bool = field(default=False, metadata={
        "help": "replace files in the output folder that layerscope did not write, and the earlier output",
        "action": "store_true"})

    @property
    def path(self) -> Optional[Path]:
        return None if self.out is None else Path(self.out)
