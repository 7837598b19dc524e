"""Linear CKA from debiased HSIC, streamed over blocks of inputs: three HSIC sums, one ratio at the end.

>>> import torch
>>> x = torch.randn(40, 10, generator=torch.Generator().manual_seed(0))
>>> q, _ = torch.linalg.qr(torch.randn(10, 10, generator=torch.Generator().manual_seed(1)))
>>> round(linear_cka(x, 3 * x @ q + 1e4), 6)  # invariant to rotations, isotropic scaling and offsets
1.0
>>> sums = HSICSums(1, 1).update([x[:20]], [x[:20] @ q]).update([x[20:]], [x[20:] @ q])
>>> round(float(sums.result()[0, 0]), 6)
1.0

For representations ``X`` (n x p) and ``Y`` (n x q) of the same n inputs, with linear Gram
matrices ``K = X Xᵀ`` and ``L = Y Yᵀ``, linear CKA (Kornblith et al., 2019) is::

    CKA = HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L))

HSIC here is the unbiased estimator of Song et al. (2012): with ``K̃``, ``L̃`` the Gram matrices
with their diagonals set to zero,
``HSIC = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((n-1)(n-2)) - 2/(n-2) · 1ᵀK̃L̃1] / (n(n-3))``.
It needs at least 4 inputs per block; its expectation is 0 for independent representations
(the biased estimator ``tr(HKHHLH) / (n-1)²`` is not: at small n it makes unrelated
representations look similar).

Both estimators are unchanged when one offset is added to every input's features, so each
block's features are centred (their mean over the block's inputs subtracted, in float64) before
the Gram matrices are formed: the same value, without the round-off of a Gram matrix dominated by
the offset (a copy of a layer with ``bias += 100`` scored 0.79 with uncentred float32 Grams).

Over many inputs, as in Nguyen et al. (2021), each block adds its three HSIC values to three sums
and the ratio is taken once at the end (never an average of per-block CKA values). HSIC over all n
inputs at once would need every input's features at the end (or p x q cross-covariances), so the
blocks keep the memory bounded; :class:`Blocks` cuts a stream of batches of any sizes into the
same blocks (32 inputs by default in ``compare``), so the result does not depend on the batches.

:class:`HSICSums` does this for every layer of one model against every layer of another at
once (the heat map); a layer's features are its whole activation flattened per input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..core.tensors import as_tensor
from ..errors import InputError

__all__ = ["HSICSums", "Blocks", "gram", "linear_cka", "MIN_INPUTS"]

MIN_INPUTS = 4  # the debiased estimator divides by n(n-3)
_CHUNK = 1 << 16  # feature columns per float64 product (16 MiB for 32 inputs); the partial Grams add up


def gram(features: Any, *, centred: bool = False) -> torch.Tensor:
    """The linear Gram matrix ``X Xᵀ`` (n, n) in float64 of ``features`` (n, ...), flattened per input.

    ``centred``: of the features less their mean over the n inputs (``Xc Xcᵀ``, every row summing
    to 0), as HSIC uses them. The mean and the products are taken in float64, a chunk of feature
    columns at a time, so a layer of millions of values per input needs no float64 copy of itself,
    and a large offset shared by the inputs (a bias of 10⁴) costs no precision: an uncentred
    float32 Gram of such features is mostly ``offset² · p`` and loses their differences to round-off.

    >>> gram(torch.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[5.0, 11.0], [11.0, 25.0]]
    >>> gram(torch.tensor([[1.0, 2.0], [3.0, 4.0]]) + 1e4, centred=True).tolist()
    [[2.0, -2.0], [-2.0, 2.0]]
    """
    x = as_tensor(features, "features")
    if x.dim() < 1 or x.shape[0] < 1:
        raise InputError(f"features must have the inputs on dim 0, got shape {tuple(x.shape)}.")
    x = x.reshape(x.shape[0], -1)
    total = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)
    for chunk in x.split(_CHUNK, dim=1):
        chunk = chunk.to(torch.float64)
        if centred:
            chunk = chunk - chunk.mean(0)
        total += chunk @ chunk.T
    return total


def _parts(grams: torch.Tensor, debiased: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What HSIC needs of each Gram matrix (k, n, n): flattened (zero-diagonal or centred) matrix, sum, row sums."""
    n = grams.shape[-1]
    if debiased:
        zeroed = grams * (1 - torch.eye(n, dtype=grams.dtype, device=grams.device))
        rows = zeroed.sum(-1)
        return zeroed.flatten(1), rows.sum(-1), rows
    centred = grams - grams.mean(-1, keepdim=True) - grams.mean(-2, keepdim=True) + grams.mean((-2, -1), keepdim=True)
    return centred.flatten(1), grams.new_zeros(grams.shape[0]), grams.new_zeros(grams.shape[:2])


def _hsic(a: tuple, b: tuple, n: int, debiased: bool, outer: bool) -> torch.Tensor:
    """HSIC of every Gram of ``a`` with every Gram of ``b`` (``outer``: a matrix) or item by item (a vector)."""
    (fa, sa, ra), (fb, sb, rb) = a, b
    if outer:
        trace, sums, rows = fa @ fb.T, sa[:, None] * sb[None, :], ra @ rb.T
    else:
        trace, sums, rows = (fa * fb).sum(-1), sa * sb, (ra * rb).sum(-1)
    if not debiased:
        return trace / (n - 1) ** 2
    return (trace + sums / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * rows) / (n * (n - 3))


def _stack(features: Sequence[Any], side: str) -> torch.Tensor:
    if isinstance(features, torch.Tensor) or not len(features):
        raise InputError(f"features_{side} must be a non-empty list of tensors (n, ...), one per layer.")
    return torch.stack([gram(f, centred=True) for f in features])


class HSICSums:
    """Sums of per-batch HSIC for ``layers_a`` x ``layers_b`` pairs (and each side with itself).

    ``update(features_a, features_b)`` takes one block, one HSIC estimate: a list of ``layers_a``
    tensors and a list of ``layers_b`` tensors, each ``(n, ...)`` for the same n inputs (n >= 4
    when ``debiased``); cut a stream into blocks with :class:`Blocks`.
    ``result()`` is the (layers_a, layers_b) CKA matrix (NaN where a side has no positive HSIC with
    itself, e.g. a constant layer). ``merge``, ``state_dict``, ``from_state`` and ``to`` as in
    :mod:`layerscope.stats`.
    """

    def __init__(self, layers_a: int, layers_b: int, *, debiased: bool = True) -> None:
        if min(layers_a, layers_b) < 1:
            raise InputError(f"HSICSums needs at least one layer on each side, got {layers_a} and {layers_b}.")
        self.debiased = bool(debiased)
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64)  # noqa: E731
        self._state = {"xy": zeros(layers_a, layers_b), "xx": zeros(layers_a), "yy": zeros(layers_b),
                       "inputs": torch.zeros((), dtype=torch.int64), "batches": torch.zeros((), dtype=torch.int64)}

    def __repr__(self) -> str:
        a, b = self._state["xy"].shape
        return f"HSICSums({a}, {b}, debiased={self.debiased}, inputs={self.inputs})"

    @property
    def inputs(self) -> int:
        return int(self._state["inputs"])

    @property
    def batches(self) -> int:
        return int(self._state["batches"])

    def update(self, features_a: Sequence[Any], features_b: Sequence[Any]) -> "HSICSums":
        """Add one batch (see the class docstring); returns self."""
        ka, kb = _stack(features_a, "a"), _stack(features_b, "b")
        if ka.shape[0] != self._state["xx"].shape[0] or kb.shape[0] != self._state["yy"].shape[0]:
            raise InputError(f"{self!r} got {ka.shape[0]} and {kb.shape[0]} layers; give one tensor per layer.")
        n = ka.shape[-1]
        if kb.shape[-1] != n:
            raise InputError(f"The two sides have different numbers of inputs ({n} vs {kb.shape[-1]}); CKA pairs "
                             f"input i of one side with input i of the other.")
        low = MIN_INPUTS if self.debiased else 2
        if n < low:
            raise InputError(f"A batch of {n} inputs is too small for {'debiased' if self.debiased else 'biased'} HSIC; "
                             f"give batches of at least {low} inputs.")
        pa, pb = _parts(ka, self.debiased), _parts(kb, self.debiased)
        device = ka.device
        state = {name: value.to(device) for name, value in self._state.items()}
        state["xy"] += _hsic(pa, pb, n, self.debiased, outer=True)
        state["xx"] += _hsic(pa, pa, n, self.debiased, outer=False)
        state["yy"] += _hsic(pb, pb, n, self.debiased, outer=False)
        state["inputs"] += n
        state["batches"] += 1
        self._state = state
        return self

    def merge(self, other: "HSICSums") -> "HSICSums":
        """Fold in the sums of the same layers over other inputs; returns self."""
        if not isinstance(other, HSICSums) or other._state["xy"].shape != self._state["xy"].shape \
                or other.debiased != self.debiased:
            raise InputError(f"Cannot merge {other!r} into {self!r}: merge sums of the same layers and estimator.")
        device = self._state["xy"].device
        self._state = {name: value + other._state[name].to(device) for name, value in self._state.items()}
        return self

    def to(self, device: Any) -> "HSICSums":
        self._state = {name: value.to(device) for name, value in self._state.items()}
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {name: value.clone() for name, value in self._state.items()}
        state["debiased"] = torch.tensor(self.debiased)
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "HSICSums":
        missing = [key for key in ("xy", "xx", "yy", "inputs", "batches", "debiased") if key not in state]
        if missing:
            raise InputError(f"HSICSums.from_state: {', '.join(map(repr, missing))} missing; pass a state_dict().")
        xy = as_tensor(state["xy"], "xy")
        sums = cls(xy.shape[0], xy.shape[1], debiased=bool(state["debiased"]))
        sums._state = {name: as_tensor(state[name], name).clone() for name in sums._state}
        return sums

    def result(self) -> np.ndarray:
        """The CKA matrix (layers_a, layers_b), float64; raises before any batch."""
        if self.batches == 0:
            raise InputError("HSICSums.result() before any update(): add at least one batch.")
        s = {name: value.detach().cpu().numpy() for name, value in self._state.items()}
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = np.sqrt(np.where(s["xx"] > 0, s["xx"], np.nan)[:, None] *
                                  np.where(s["yy"] > 0, s["yy"], np.nan)[None, :])
            return s["xy"] / denominator


def linear_cka(x: Any, y: Any, *, debiased: bool = True) -> float:
    """Linear CKA of two representations ``(n, ...)`` of the same n inputs, in one batch.

    >>> x = torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    >>> round(linear_cka(x, x), 12)
    1.0
    """
    return float(HSICSums(1, 1, debiased=debiased).update([x], [y]).result()[0, 0])


class Blocks:
    """Cuts a stream of batches of any sizes into blocks of ``size`` inputs, one HSIC estimate each.

    ``add(tensors)`` takes one batch: a list of tensors ``(n, ...)`` on the same n inputs (every
    layer of both models) and returns the blocks it completes, each a list of ``(size, ...)``
    tensors. ``finish()`` returns the last block, the remaining inputs: between ``MIN_INPUTS``
    and ``size + MIN_INPUTS - 1`` of them (a short tail joins the block before, so a block is cut
    only once at least ``MIN_INPUTS`` inputs follow it), or ``None`` when nothing remains.
    The blocks depend only on the order of the inputs, never on how they were batched; at most
    ``size + MIN_INPUTS - 1`` inputs are held between batches.

    >>> blocks = Blocks(4)
    >>> [[len(t) for t in b] for b in blocks.add([torch.zeros(5, 2), torch.zeros(5)])], blocks.held
    ([], 5)
    >>> [len(b[0]) for b in blocks.add([torch.zeros(6, 2), torch.zeros(6)])], len(blocks.finish()[0])  # 11 = 4 + 7
    ([4], 7)
    """

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or size < MIN_INPUTS:
            raise InputError(f"A block of {size!r} inputs is too small for HSIC; give at least {MIN_INPUTS}.")
        self.size = size
        self._pieces: list[list[torch.Tensor]] = []
        self.held = 0

    def add(self, tensors: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
        """The blocks that this batch completes (see the class docstring)."""
        counts = {len(t) for t in tensors}
        if len(counts) != 1:
            raise InputError(f"Blocks got tensors for different numbers of inputs {sorted(counts)}; give every layer "
                             "of one batch, each with the inputs on dim 0.")
        if self._pieces and len(tensors) != len(self._pieces[0]):
            raise InputError(f"Blocks got {len(tensors)} tensors after {len(self._pieces[0])}; give the same layers "
                             "in every batch.")
        self._pieces.append(list(tensors))
        self.held += counts.pop()
        done = []
        while self.held >= self.size + MIN_INPUTS:
            done.append(self._take(self.size))
        return done

    def finish(self) -> Optional[list[torch.Tensor]]:
        """The last block (every input still held), or None; the stream may go on after it."""
        return self._take(self.held) if self.held else None

    def _take(self, count: int) -> list[torch.Tensor]:
        joined = [torch.cat(parts) if len(parts) > 1 else parts[0] for parts in zip(*self._pieces)]
        rest = [t[count:] for t in joined]
        self._pieces = [rest] if len(rest[0]) else []
        self.held -= count
        return [t[:count] for t in joined]
