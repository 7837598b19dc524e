"""The k inputs that excite each channel most, with where: exact under any split and merge order.

>>> import torch
>>> maps = torch.tensor([[[[0.0, 5.0]]], [[[7.0, 1.0]]], [[[5.0, 0.0]]]])  # 3 inputs, 1 channel, 1x2 maps
>>> top = TopK(1, k=2).update(maps[:1], index=torch.tensor([10])).merge(
...     TopK(1, k=2).update(maps[1:], index=torch.tensor([11, 12])))
>>> r = top.result()
>>> r.score.tolist(), r.index.tolist(), r.position.tolist()
([[7.0, 5.0]], [[11, 10]], [[0, 1]])

Each input's score for a channel is its map's spatial maximum (``by="max"``) or mean
(``by="mean"``); the position kept is the map's argmax (first in row-major order), as a flat
index into the map. Inputs are ranked by (score descending, global input index ascending),
a strict order, so the top k of a union is the top k of the parts' top k: merging is exact
and every result is deterministic. NaN scores rank last (as -inf). Parts merged must cover
disjoint inputs; a merge that finds one input in both parts refuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Union

import numpy as np
import torch

from ..core.tensors import as_tensor
from ..errors import InputError, did_you_mean
from ._base import Accumulator

__all__ = ["TopK", "TopKResult", "SCORES"]

SCORES = ("max", "mean")
EMPTY = torch.iinfo(torch.int64).max  # the index of an empty slot: ranks after every input at -inf


@dataclass
class TopKResult:
    """Per channel (rows) the k best inputs, best first: ``score`` (NaN when fewer than k inputs were
    seen), global input ``index`` (-1 when empty) and the argmax ``position`` (flat index into the map,
    -1 when empty); ``by`` is the score (``"max"`` or ``"mean"`` over the map's positions)."""

    by: str
    score: np.ndarray
    index: np.ndarray
    position: np.ndarray


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"TopK needs k, the inputs kept per channel, as a positive int; got {k!r}.")
    return k


def _check_by(by: Any) -> str:
    if by not in SCORES:
        raise InputError(f"TopK by={by!r} is unknown.{did_you_mean(by, SCORES)} Use one of: {', '.join(SCORES)}.")
    return by


def map_scores(flat: torch.Tensor, by: str) -> torch.Tensor:
    """(N, C) float64 scores of maps flattened to ``(N, C, L)``: the max over non-NaN values, or the mean of
    the finite ones (NaN without one).

    >>> map_scores(torch.tensor([[[1.0, float("nan"), 3.0]]]), "max").tolist()
    [[3.0]]
    """
    if by == "max":
        return flat.nan_to_num(nan=-math.inf, posinf=math.inf, neginf=-math.inf).amax(-1).to(torch.float64)
    x = flat.to(torch.float64)
    finite = torch.isfinite(x)
    return torch.where(finite, x, 0.0).sum(-1) / finite.sum(-1)


class TopK(Accumulator):
    """Per channel, the ``k`` inputs with the highest score (spatial ``by="max"`` or ``"mean"``) and its argmax.

    ``update(maps, index=...)`` takes maps ``(N, C, ...)`` and each input's global index (default: the
    count of inputs seen so far onwards, which only suits one accumulator over one ordered stream).
    """

    _SIZED = "score"

    def __init__(self, channels: int, k: int = 9, by: str = "max") -> None:
        self.k = _check_k(k)
        self.by = _check_by(by)
        super().__init__(channels)

    def __repr__(self) -> str:
        return f"TopK({self.channels}, k={self.k}, by={self.by!r})"

    @classmethod
    def _blank(cls, state: Mapping[str, Any]) -> "TopK":
        for name in ("score", "by"):
            if name not in state:
                raise InputError(f"TopK.from_state: the state has no {name!r}; pass a TopK's state_dict().")
        score = as_tensor(state["score"], "a state entry")
        by = int(as_tensor(state["by"], "a state entry"))
        if score.dim() != 2 or by not in range(len(SCORES)):
            raise InputError("TopK.from_state: 'score' must be (C, k) and 'by' 0 (max) or 1 (mean).")
        return cls(int(score.shape[0]), int(score.shape[1]), SCORES[by])

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        shape = (self.channels, self.k)
        return {
            "score": torch.full(shape, -math.inf, dtype=torch.float64, device=device),
            "index": torch.full(shape, EMPTY, dtype=torch.int64, device=device),
            "position": torch.full(shape, -1, dtype=torch.int64, device=device),
            "seen": torch.zeros((), dtype=torch.int64, device=device),
            "by": torch.tensor(SCORES.index(self.by), dtype=torch.int64, device=device),
        }

    # -- adding data ----------------------------------------------------------------------------------
    def update(self, x: Any, index: Any = None) -> "TopK":
        """Add maps ``(N, C, ...)`` (the positions are every dim after C) of the inputs ``index`` (N,)."""
        maps = as_tensor(x, "a batch")
        if maps.dim() < 2 or maps.shape[1] != self.channels:
            raise InputError(
                f"{self!r} got a batch of shape {tuple(maps.shape)}; it needs (N, {self.channels}, ...) "
                f"with the channels on dim 1."
            )
        flat = maps.reshape(maps.shape[0], self.channels, -1)
        if flat.shape[-1] == 0:
            raise InputError(f"{self!r} got maps without positions (shape {tuple(maps.shape)}).")
        return self.update_scores(map_scores(flat, self.by), index, flat)

    def update_scores(self, scores: torch.Tensor, index: Any, flat: Union[torch.Tensor, "Argmax"]) -> "TopK":
        """Add inputs whose (N, C) ``scores`` are already known; ``flat`` (N, C, L) gives the argmax positions,
        computed only for the inputs that enter the top k (an :class:`Argmax` of it shares them between lists)."""
        n = scores.shape[0]
        if not n:
            return self
        seen = int(self._state["seen"])
        device = scores.device
        ids = torch.arange(seen, seen + n, device=device) if index is None else _check_index(index, n, device)
        ranked = torch.where(torch.isnan(scores), -math.inf, scores.to(torch.float64)).T  # (C, N)
        candidates = {
            "score": ranked.contiguous(),
            "index": ids.expand(self.channels, n).contiguous(),
            "position": (-2 - torch.arange(n, device=device)).expand(self.channels, n).contiguous(),  # batch row, coded
            "seen": torch.tensor(n, dtype=torch.int64, device=device),
            "by": self._state["by"].to(device),
        }
        self._fold(candidates, placed=True)
        self._locate(flat if isinstance(flat, Argmax) else Argmax(flat))
        return self

    def _locate(self, argmax: "Argmax") -> None:
        """Replace the coded batch rows of entries that just entered with their maps' argmax positions."""
        position = self._state["position"]
        fresh = position <= -2
        channel, slot = fresh.nonzero(as_tuple=True)
        if not len(channel):
            return
        where = argmax.at(-2 - position[channel, slot], channel)
        position[channel, slot] = where.to(position.device)

    # -- merging --------------------------------------------------------------------------------------
    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        score = torch.cat([a["score"], b["score"]], 1)
        index = torch.cat([a["index"], b["index"]], 1)
        position = torch.cat([a["position"], b["position"]], 1)
        by_index = index.argsort(dim=1, stable=True)
        by_score = score.gather(1, by_index).argsort(dim=1, descending=True, stable=True)
        keep = by_index.gather(1, by_score)[:, : self.k]
        return {
            "score": score.gather(1, keep), "index": index.gather(1, keep), "position": position.gather(1, keep),
            "seen": a["seen"] + b["seen"], "by": a["by"],
        }

    def _check_mergeable(self, other: Any) -> None:
        super()._check_mergeable(other)
        if (other.k, other.by) != (self.k, self.by):
            raise InputError(
                f"Cannot merge {other!r} into {self!r}: top-k lists merge only with the same k and score."
            )
        mine, theirs = self._state["index"], other._state["index"].to(self.device)
        both = (mine[:, :, None] == theirs[:, None, :]) & (mine[:, :, None] != EMPTY)
        if bool(both.any()):
            channel, slot, _ = both.nonzero()[0].tolist()
            raise InputError(
                f"Cannot merge {other!r} into {self!r}: input {int(mine[channel, slot])} is in both (channel "
                f"{channel}); merge parts that cover disjoint inputs (different shards), each once."
            )

    def result(self) -> TopKResult:
        s = self._numpy()
        empty = s["index"] == EMPTY
        return TopKResult(
            by=self.by,
            score=np.where(empty, np.nan, s["score"]),
            index=np.where(empty, -1, s["index"]),
            position=np.where(empty, -1, s["position"]),
        )


class Argmax:
    """The argmax positions of one batch of maps ``(N, C, L)``, shared by the top-k lists fed from the batch: every
    map's in one pass once many are asked for (the first batches), else only those asked for.

    >>> a = Argmax(torch.tensor([[[0.0, 5.0, 1.0], [2.0, 0.0, 2.0]]]))
    >>> a.at(torch.tensor([0, 0]), torch.tensor([1, 0])).tolist()
    [0, 1]
    """

    def __init__(self, flat: torch.Tensor) -> None:
        self.flat, self._all = flat, None

    def at(self, rows: torch.Tensor, channel: torch.Tensor) -> torch.Tensor:
        """The argmax of the maps of batch rows ``rows``, channels ``channel`` (same length)."""
        rows, channel = rows.to(self.flat.device), channel.to(self.flat.device)
        if self._all is None and len(rows) * 4 > self.flat.shape[0] * self.flat.shape[1]:
            self._all = _argmax(self.flat)
        if self._all is not None:
            return self._all[rows, channel]
        n, c, length = self.flat.shape
        if self.flat.is_contiguous():  # whole rows of the (N*C, L) view: cheaper than a 2-D fancy index
            return _argmax(self.flat.view(n * c, length).index_select(0, rows * c + channel))
        return _argmax(self.flat[rows, channel])


def _argmax(values: torch.Tensor) -> torch.Tensor:
    """The first argmax over the last dim, NaN ranked lowest (``argmax`` alone treats NaN as the max)."""
    where = values.argmax(-1)
    odd = torch.isnan(values.gather(-1, where[..., None])[..., 0])
    if bool(odd.any()):
        where = torch.where(odd, values.nan_to_num(nan=-math.inf).argmax(-1), where)
    return where


def _check_index(index: Any, n: int, device: torch.device) -> torch.Tensor:
    ids = torch.as_tensor(index, device=device)
    if ids.shape != (n,) or ids.is_floating_point() or ids.dtype == torch.bool:
        raise InputError(f"TopK index must be {n} integer input indices (one per input), got shape {tuple(ids.shape)}.")
    if n and int(ids.min()) < 0:
        raise InputError("TopK input indices must be non-negative.")
    return ids.to(torch.int64)
