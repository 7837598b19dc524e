"""Which inputs a part of a scan covers: shard ``i/N`` holds the global indices ``i, i+N, i+2N, ...``.

>>> Shard.parse("1/3").positions(8), Shard(1, 3).overlaps(Shard(0, 2)), Shard(1, 4).overlaps(Shard(0, 2))
(range(1, 8, 3), True, False)

Explicit index sharding (every rank of ``torchrun`` takes ``indices[rank::world_size]``, every
``--shard i/N`` job the same) never pads or repeats an input, unlike ``DistributedSampler``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import InputError

__all__ = ["Shard", "covers_all"]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the inputs whose global index is ``index`` modulo ``count``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and isinstance(self.index, int) and 0 <= self.index < self.count):
            raise InputError(f"Shard {self.index}/{self.count} is not a shard: write i/N with 0 <= i < N, e.g. 0/4.")

    @classmethod
    def parse(cls, value: Any) -> "Shard":
        """``"i/N"``, ``(i, N)``, a Shard or None (the whole dataset)."""
        if value is None:
            return cls()
        if isinstance(value, Shard):
            return value
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return cls(int(value[0]), int(value[1]))
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
        if not match:
            raise InputError(f"--shard {value!r} is not i/N; write e.g. --shard 0/4 (the first of four shards).")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def positions(self, size: int) -> range:
        """The global indices of this shard in a dataset of ``size`` inputs."""
        return range(self.index, size, self.count)

    def holds(self, index: int) -> bool:
        return index % self.count == self.index

    def overlaps(self, other: "Shard") -> bool:
        """Whether some global index is in both (``i = j`` modulo the gcd of the counts)."""
        return (self.index - other.index) % math.gcd(self.count, other.count) == 0


def covers_all(shards: Iterable[Shard]) -> bool:
    """Whether disjoint ``shards`` together hold every index (their densities add up to 1).

    >>> covers_all([Shard(0, 2), Shard(1, 4), Shard(3, 4)]), covers_all([Shard(0, 2)])
    (True, False)
    """
    return sum((Fraction(1, s.count) for s in shards), Fraction(0)) == 1
