"""The dump's own settings: one frozen, validated :class:`DumpOptions` (the run's are in :mod:`layerscope.run.options`).

>>> DumpOptions(positions=16, seed=3, shard="1/4").shard
Shard(index=1, count=4)
>>> DumpOptions(dtype="float64")
Traceback (most recent call last):
...
layerscope.errors.InputError: dtype='float64': the store keeps float16, bfloat16 or float32; pass one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..core.options import Options, positive_int
from ..errors import InputError
from ..io.shard import Shard

__all__ = ["DumpOptions", "DTYPES", "DUMP_BATCH_SIZE"]

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
DUMP_BATCH_SIZE = 32  # as the scan's


@dataclass(frozen=True)
class DumpOptions(Options):
    """What a dump keeps. ``dtype``: the stored values' type (float16 by default); ``positions``: K positions per
    image and layer drawn at random (seeded by ``seed``, the image's index and the layer: the same on every shard
    and rerun; None keeps every position); ``pooled``: one mean vector per image instead; ``shard``: dump only
    shard ``"i/N"``; ``save_every``: batches per part file (a part is also closed once it holds ``part_mb`` MB)."""

    dtype: str = field(default="float16", metadata={"help": "stored type: float16 (default), bfloat16, float32",
                                                    "choices": tuple(DTYPES)})
    positions: Optional[int] = field(default=None, metadata={
        "help": "keep K random positions per image and layer (default: all)", "metavar": "K", "type": int})
    seed: int = field(default=0, metadata={"help": "seed of the random positions (default 0)", "metavar": "S",
                                           "type": int})
    pooled: bool = field(default=False, metadata={"help": "one mean vector per image and layer (spatial mean)",
                                                  "action": "store_true"})
    shard: Optional[Shard] = field(default=None, metadata={
        "help": "dump only shard I of N (inputs I, I+N, ...); merge the folders with `layerscope merge`",
        "metavar": "I/N"})
    save_every: int = field(default=50, metadata={"help": "batches per part file, a checkpoint each (default 50)",
                                                  "metavar": "N", "type": int})
    part_mb: int = field(default=256, metadata={"help": "close a part file once it holds this many MB (default 256)",
                                                "metavar": "MB", "type": int})

    def __post_init__(self) -> None:
        if isinstance(self.dtype, torch.dtype):
            object.__setattr__(self, "dtype", str(self.dtype).replace("torch.", ""))
        if self.dtype not in DTYPES:
            raise InputError(f"dtype={self.dtype!r}: the store keeps float16, bfloat16 or float32; pass one of these.")
        positive_int(self, "positions", allow_none=True)
        positive_int(self, "save_every")
        positive_int(self, "part_mb")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed={self.seed!r} must be an int.")
        if self.pooled and self.positions is not None:
            raise InputError("pooled=True keeps one mean vector per image; drop positions= (or pooled).")
        if self.shard is not None:
            object.__setattr__(self, "shard", Shard.parse(self.shard))

    @property
    def torch_dtype(self) -> Any:
        return DTYPES[self.dtype]
