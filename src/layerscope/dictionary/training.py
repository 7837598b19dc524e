"""Train a sparse dictionary (TopK or BatchTopK sparse autoencoder) on a layer's activations, streaming.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> rows = torch.eye(8)[torch.randint(0, 8, (4000,), generator=g)] * (1 + torch.rand(4000, 1, generator=g))
>>> d = train_dictionary(rows.split(500), latents=16, k=1, epochs=8, batch_size=256, seed=0)
>>> d.figures["explained_variance"] > 0.9, d.figures["l0"] <= 1.0
(True, True)

``source``: any re-iterable of chunks, each an (n, C) float tensor or an object with ``.values``
(the store's :func:`~layerscope.load_activations` chunks); it is read chunk after chunk and never
held whole (a shuffle buffer of ``buffer`` rows mixes neighbouring chunks). Every
``holdout``-th row (by its position in the stream) is held out of training and measured at the end:
explained variance ``1 - SSE / SST`` (SST about the held-out mean), mean L0 (latents active per row)
and dead latents (never active on any row of that last pass). The same source and seed give the
same dictionary.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Optional

import torch

from ..core.options import Options, positive_int
from ..errors import InputError
from .model import KINDS, Dictionary, topk_rows

__all__ = ["train_dictionary", "DictionaryOptions", "measure"]

DEAD_AFTER = 20  # batches a latent stays silent before AuxK counts it dead (and trains it on the residual)


@dataclass(frozen=True)
class DictionaryOptions(Options):
    """How a dictionary is trained. ``latents`` (K) and ``k`` (latents active per row); ``kind`` ``"topk"`` or
    ``"batchtopk"`` (``k`` is then the mean over a batch's rows: rows that are all zero, such as the empty
    positions of a sparse layer, leave their share to the others, which may then split one feature over
    several latents; train it on the rows that are not empty, or lower ``k``); ``epochs`` passes over the source, or ``steps`` Adam steps (a count that ends training
    early); ``batch_size`` rows a step; ``lr`` Adam's learning rate (None: ``2e-4 / sqrt(K / 2**14)``, Gao
    et al.'s scaling); ``seed``; ``aux`` the weight of the AuxK loss that revives dead latents (0: off);
    ``holdout`` every N-th row kept out for the figures; ``buffer`` rows of the shuffle buffer."""

    latents: int = field(default=512, metadata={"help": "latents of the dictionary (default 512)", "type": int})
    k: int = field(default=16, metadata={"help": "latents active per position (default 16)", "type": int})
    kind: str = field(default="topk", metadata={"help": "topk or batchtopk (default topk)", "choices": KINDS})
    epochs: int = field(default=4, metadata={"help": "passes over the activations (default 4)", "type": int})
    steps: Optional[int] = None
    batch_size: int = field(default=1024, metadata={"help": "rows per step (default 1024)", "type": int})
    lr: Optional[float] = None
    seed: int = field(default=0, metadata={"help": "seed of the initialization and shuffling (default 0)",
                                           "type": int})
    aux: float = 1 / 32
    holdout: int = 10
    buffer: int = 65536

    def __post_init__(self) -> None:
        for name in ("latents", "k", "epochs", "batch_size", "holdout", "buffer"):
            positive_int(self, name)
        if self.steps is not None:
            positive_int(self, "steps")
        if self.kind not in KINDS:
            raise InputError(f"kind={self.kind!r}: use one of {', '.join(KINDS)}.")
        if self.k > self.latents:
            raise InputError(f"k={self.k} is more than latents={self.latents}; give k <= latents.")
        if self.holdout < 2:
            raise InputError(f"holdout={self.holdout}: hold out every N-th row with N >= 2.")

    @property
    def rate(self) -> float:
        return self.lr if self.lr is not None else 2e-4 / math.sqrt(self.latents / 2**14)


def _rows(chunk: Any) -> torch.Tensor:
    values = chunk if isinstance(chunk, torch.Tensor) else getattr(chunk, "values", chunk)
    if not isinstance(values, torch.Tensor) or values.dim() != 2:
        raise InputError(f"A dictionary trains on chunks of rows (n, C): tensors, or the store's chunks (.values); "
                         f"got {type(values).__name__} {tuple(getattr(values, 'shape', ()))}.")
    return values.float()


def _split(source: Iterable, holdout: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(training rows, held-out rows) of each chunk: the held-out rows are every ``holdout``-th of the stream."""
    seen = 0
    for chunk in source:
        rows = _rows(chunk)
        held = (torch.arange(seen, seen + len(rows)) % holdout) == 0
        seen += len(rows)
        yield rows[~held], rows[held]


def _batches(source: Iterable, options: DictionaryOptions, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled training batches of one pass: rows gather in a buffer, which is shuffled and emptied when full."""
    pending: list[torch.Tensor] = []
    size = 0
    for train, _ in _split(source, options.holdout):
        pending.append(train)
        size += len(train)
        if size >= options.buffer:
            yield from _emit(pending, options.batch_size, generator)
            pending, size = [], 0
    if pending:
        yield from _emit(pending, options.batch_size, generator)


def _emit(pending: list[torch.Tensor], batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    rows = torch.cat(pending)
    rows = rows[torch.randperm(len(rows), generator=generator)]
    yield from rows.split(batch_size)


class _Sae(torch.nn.Module):
    def __init__(self, start: torch.Tensor, options: DictionaryOptions, generator: torch.Generator) -> None:
        super().__init__()
        c = start.shape[1]
        directions = torch.randn(options.latents, c, generator=generator)
        directions = directions / directions.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(directions)
        self.W_enc = torch.nn.Parameter(directions.t().clone())  # tied at the start (Gao et al.)
        self.b_enc = torch.nn.Parameter(torch.zeros(options.latents))
        self.b_dec = torch.nn.Parameter(start.mean(0))
        self.options = options

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.b_dec) @ self.W_enc + self.b_enc).relu()

    def select(self, pre: torch.Tensor) -> torch.Tensor:
        k = self.options.k
        if self.options.kind == "topk":
            return topk_rows(pre, k)
        flat = pre.reshape(-1)  # BatchTopK: the k x B largest over the whole batch
        values, index = flat.topk(min(k * len(pre), flat.numel()))
        return torch.zeros_like(flat).scatter(0, index, values).reshape(pre.shape)

    @torch.no_grad()
    def normalize(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)


def train_dictionary(source: Iterable, options: Optional[DictionaryOptions] = None, *, layer: Optional[str] = None,
                     **fields: Any) -> Dictionary:
    """A :class:`~layerscope.dictionary.Dictionary` trained on ``source`` (chunks of (n, C) rows, re-iterable
    when ``epochs`` > 1), with :class:`DictionaryOptions` (its fields as keywords too: ``latents=``, ``k=``,
    ``kind=``, ``epochs=``, ``steps=``, ``batch_size=``, ``lr=``, ``seed=``). ``layer``: the layer the rows come
    from (default: the source's ``layer`` when it has one). The figures (``explained_variance``, ``l0``,
    ``dead``, ``seconds``, ``steps``, ``rows``) are in ``dictionary.figures``."""
    options = DictionaryOptions.of(options, **fields)
    if iter(source) is source:
        raise InputError("train_dictionary reads its source several times (the first rows, each epoch, the figures): "
                         "give a re-iterable one (the store's load_activations(DIR, layer), a list of tensors), not "
                         "a generator or an iterator.")
    layer = layer if layer is not None else getattr(source, "layer", None)
    generator = torch.Generator().manual_seed(options.seed)
    start = _first_rows(source, options)
    sae = _Sae(start, options, generator)
    optimizer = torch.optim.Adam(sae.parameters(), lr=options.rate)
    idle = torch.zeros(options.latents, dtype=torch.long)  # rows since each latent last fired
    thresholds: list[float] = []
    steps, rows, began = 0, 0, time.perf_counter()
    for epoch in range(options.epochs):
        fed = 0
        for x in _batches(source, options, generator):
            fed += len(x)
            loss, z = _loss(sae, x, idle, options)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sae.normalize()
            if options.kind == "batchtopk":
                positive = z.detach()[z.detach() > 0]
                if positive.numel():
                    thresholds.append(float(positive.min()))
            steps += 1
            if options.steps is not None and steps >= options.steps:
                break
        rows += fed
        if fed == 0:
            raise InputError(f"The source gave no rows on pass {epoch + 1}: a dictionary trains on a re-iterable source "
                             "(the store's load_activations(DIR, layer), a list of tensors); a generator runs dry "
                             "after one pass, so give epochs=1 or a list.")
        if options.steps is not None and steps >= options.steps:
            break
    tail = thresholds[len(thresholds) // 2:]  # the threshold of the trained dictionary: its second half
    settings = {**asdict(options), "lr": options.rate}
    found = Dictionary(sae.W_enc.detach().clone(), sae.b_enc.detach().clone(), sae.b_dec.detach().clone(),
                       sae.W_dec.detach().clone(), options.k, options.kind,
                       threshold=sum(tail) / len(tail) if tail else 0.0, layer=layer, settings=settings)
    seconds = time.perf_counter() - began
    found.figures = {**measure(found, source, options.holdout), "seconds": round(seconds, 3), "steps": steps,
                     "rows": rows}
    return found


def _first_rows(source: Iterable, options: DictionaryOptions) -> torch.Tensor:
    """The first training rows (up to one buffer): they set the decoder bias (their mean) and the width C."""
    for train, _ in _split(source, options.holdout):
        if len(train):
            return train[: options.buffer]
    raise InputError("The source gave no rows to train a dictionary on.")


def _loss(sae: _Sae, x: torch.Tensor, idle: torch.Tensor, options: DictionaryOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction MSE, plus AuxK: the dead latents' top ``k_aux`` reconstruct the residual (Gao et al.)."""
    pre = sae.pre(x)
    z = sae.select(pre)
    recon = z @ sae.W_dec + sae.b_dec
    loss = (recon - x).pow(2).sum(1).mean()
    with torch.no_grad():
        fired = (z > 0).any(0)
        idle += len(x)
        idle[fired] = 0
        dead = idle > DEAD_AFTER * options.batch_size
    if options.aux > 0 and bool(dead.any()):
        k_aux = min(int(dead.sum()), 2 * options.k)
        residual = (x - recon).detach()
        aux = topk_rows(pre * dead, k_aux) @ sae.W_dec
        loss = loss + options.aux * (aux - residual).pow(2).sum(1).mean()
    return loss, z


@torch.no_grad()
def measure(dictionary: Dictionary, source: Iterable, holdout: int = 10) -> dict:
    """The figures of ``dictionary`` on ``source``: on its held-out rows (every ``holdout``-th; 1: every row)
    ``explained_variance`` (1 - SSE / SST about their mean) and ``l0`` (mean latents active per row); over all its
    rows ``dead`` (latents never active) and ``rows``/``held_out``.

    >>> import torch
    >>> d = Dictionary.identity(2, k=1)
    >>> measure(d, [torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0]])], holdout=1)
    {'explained_variance': 1.0, 'l0': 1.0, 'dead': 0, 'rows': 3, 'held_out': 3}
    """
    fired = torch.zeros(dictionary.latents, dtype=torch.bool)
    sse = square = active = 0.0
    count = rows = seen = 0
    sums = torch.zeros(dictionary.channels, dtype=torch.float64)
    for chunk in source:
        x = _rows(chunk)
        z = dictionary.encode(x)
        fired |= (z > 0).any(0)
        held = (torch.arange(seen, seen + len(x)) % holdout) == 0
        seen += len(x)
        rows += len(x)
        xh, zh = x[held].double(), z[held]
        if not len(xh):
            continue
        sse += float((dictionary.decode(zh).double() - xh).pow(2).sum())
        square += float(xh.pow(2).sum())
        sums += xh.sum(0)
        active += float((zh > 0).sum())
        count += len(xh)
    if count == 0:
        raise InputError("No held-out rows to measure the dictionary on; give more rows or a smaller holdout.")
    sst = square - float(sums.pow(2).sum()) / count
    return {"explained_variance": 1.0 - sse / sst if sst > 0 else float("nan"), "l0": active / count,
            "dead": int((~fired).sum()), "rows": rows, "held_out": count}
