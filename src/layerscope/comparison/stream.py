"""The running state of one comparison: HSIC sums, map similarities and channel correlations, batch by batch.

>>> import torch
>>> from layerscope.capturing import Activations, LayerInfo
>>> def acts(x):
...     return Activations({"f": x}, {"f": LayerInfo("f", "f", "Linear", 0, "")})
>>> x = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
>>> s = Streams([], True, ("A", "B"), True)
>>> s.update(acts(x), acts(2 * x), None, None)
>>> result = s.result({"spec": "a"}, {"spec": "a"}, [])
>>> [round(v, 6) for v in (result["f"].cka, result["f"].cosine, result["f"].rel_l2)]
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..errors import InputError, did_you_mean
from ..run.maps import LayerMaps
from .cka import MIN_INPUTS, Blocks, HSICSums
from .match import ChannelCorrelation, match_channels
from .result import Comparison, LayerComparison

__all__ = ["Streams", "similarity_sums"]

_CHUNK = 1 << 20  # values per float64 slice of the similarity sums


def similarity_sums(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[sum a*b, sum a*a, sum b*b, sum (b-a)^2]`` in float64, a slice of ``_CHUNK`` values at a time.

    >>> similarity_sums(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0])).tolist()
    [1.0, 5.0, 1.0, 4.0]
    """
    total = torch.zeros(4, dtype=torch.float64, device=a.device)
    for x, y in zip(a.reshape(-1).split(_CHUNK), b.to(a.device).reshape(-1).split(_CHUNK)):
        x, y = x.to(torch.float64), y.to(torch.float64)
        total += torch.stack([(x * y).sum(), (x * x).sum(), (y * y).sum(), (y - x).square().sum()])
    return total


def _usable(tensor: Any) -> bool:
    return isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.dim() >= 1


def _maps(reader: LayerMaps, acts, key: str, image: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """(N, C, H, W) maps of one capture for the channel match (vectors (N, C) become (N, C, 1, 1)); None when
    the layer cannot be read as maps (its reason in ``reader.skipped``)."""
    tensor = acts[key]
    if tensor.dim() == 2:
        return tensor[:, :, None, None]
    size = tuple(image.shape[-2:]) if image is not None and image.dim() >= 3 else None
    maps = reader.maps(key, tensor, acts.describe(key), size)
    return None if maps is None else maps.maps


class Streams:
    """Everything a comparison accumulates; the layers and pairs are fixed by the first batch.

    Batches of any sizes: the HSIC sums take the inputs in blocks of ``block`` (:class:`~.cka.Blocks`),
    so the CKA does not depend on the batches; the other sums are exact under any split.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], match: Union[bool, Sequence[str]], labels: tuple[str, str],
                 debiased: bool, layouts: tuple[Optional[Mapping[str, str]], Optional[Mapping[str, str]]] = (None, None),
                 block: int = 32) -> None:
        self.given_pairs, self.match, self.labels, self.debiased = list(pairs), match, labels, debiased
        self.blocks = Blocks(block)
        self.readers = (LayerMaps(layouts[0]), LayerMaps(layouts[1]))  # how each side's layers read as maps
        self.keys_a: list[str] = []
        self.keys_b: list[str] = []
        self.pairs: list[tuple[str, str]] = []
        self.hsic: Optional[HSICSums] = None
        self.sums: dict[tuple[str, str], torch.Tensor] = {}
        self.correlations: dict[tuple[str, str], ChannelCorrelation] = {}
        self.probes: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.notes: list[str] = []
        self.inputs = 0

    def _start(self, acts_a, acts_b, image_a, image_b) -> None:
        self.keys_a = [k for k in acts_a if _usable(acts_a[k])]
        self.keys_b = [k for k in acts_b if _usable(acts_b[k])]
        for side, acts, keys in (("A", acts_a, self.keys_a), ("B", acts_b, self.keys_b)):
            self.notes += [f"{side} {k}: not compared (not a floating-point tensor)" for k in acts if k not in keys]
        if not self.keys_a or not self.keys_b:
            raise InputError("No layer to compare: select layers whose outputs are floating-point tensors.")
        self.pairs = self._pairs()
        self.hsic = HSICSums(len(self.keys_a), len(self.keys_b), debiased=self.debiased)
        wanted = set(a for a, _ in self.pairs) if self.match is True else set(self.match or ())
        unknown = sorted(wanted - set(a for a, _ in self.pairs))
        if unknown:
            raise InputError(f"match={unknown} names no compared layer.{did_you_mean(unknown[0], self.keys_a)}")
        for a, b in self.pairs:
            if a in wanted:
                self._start_match(a, b, acts_a, acts_b, image_a, image_b)

    def _pairs(self) -> list[tuple[str, str]]:
        if not self.given_pairs:
            pairs = [(k, k) for k in self.keys_a if k in self.keys_b]
            if not pairs:
                raise InputError(
                    f"The two models share no captured layer name (A: {', '.join(self.keys_a[:4])} ...; B: "
                    f"{', '.join(self.keys_b[:4])} ...); pair layers explicitly with pairs={{'layer_of_a': 'layer_of_b'}} "
                    "(CLI: --pairs A=B,...)."
                )
            return pairs
        for side, names, keys in (("a", [x for x, _ in self.given_pairs], self.keys_a),
                                  ("b", [y for _, y in self.given_pairs], self.keys_b)):
            for name in names:
                if name not in keys:
                    raise InputError(f"pairs: model {side} has no captured layer {name!r}.{did_you_mean(name, keys)}")
        return list(self.given_pairs)

    def _start_match(self, a: str, b: str, acts_a, acts_b, image_a, image_b) -> None:
        maps_a, maps_b = _maps(self.readers[0], acts_a, a, image_a), _maps(self.readers[1], acts_b, b, image_b)
        if maps_a is None or maps_b is None:
            why = self.readers[0].skipped.get(a) if maps_a is None else self.readers[1].skipped.get(b)
            self.notes.append(f"{a}: channels not matched ({why})")
            return
        self.correlations[(a, b)] = ChannelCorrelation(maps_a.shape[1], maps_b.shape[1])
        self.probes[(a, b)] = (maps_a[0].detach().cpu().clone(), maps_b[0].detach().cpu().clone())

    def update(self, acts_a, acts_b, image_a: Optional[torch.Tensor], image_b: Optional[torch.Tensor]) -> None:
        """Add one batch: the captures of A and of B on the same (paired) inputs."""
        if self.hsic is None:
            self._start(acts_a, acts_b, image_a, image_b)
        missing = [k for k in self.keys_a if k not in acts_a] + [k for k in self.keys_b if k not in acts_b]
        if missing:
            raise InputError(f"Layer {missing[0]!r} did not run on every batch; compare needs every selected layer "
                             "on every input (select layers that always run).")
        n = len(acts_a[self.keys_a[0]])
        rows = [(k, len(acts_a[k])) for k in self.keys_a] + [(k, len(acts_b[k])) for k in self.keys_b]
        odd = [(k, m) for k, m in rows if m != n]
        if odd:
            raise InputError(f"Layer {odd[0][0]!r} gave {odd[0][1]} rows for a batch of {n} inputs; CKA pairs input "
                             "i of one model with input i of the other, so compare layers whose outputs have the "
                             "inputs on dim 0.")
        for features in self.blocks.add([acts_a[k] for k in self.keys_a] + [acts_b[k] for k in self.keys_b]):
            self._hsic(features)
        for a, b in self.pairs:
            self.shapes.setdefault("a:" + a, tuple(acts_a[a].shape[1:]))
            self.shapes.setdefault("b:" + b, tuple(acts_b[b].shape[1:]))
            if acts_a[a].shape == acts_b[b].shape:
                self.sums[(a, b)] = self.sums.get((a, b), 0) + similarity_sums(acts_a[a], acts_b[b])
            if (a, b) in self.correlations:
                self.correlations[(a, b)].update(_maps(self.readers[0], acts_a, a, image_a),
                                                 _maps(self.readers[1], acts_b, b, image_b))
        self.inputs += n

    def _hsic(self, features: list[torch.Tensor]) -> None:
        split = len(self.keys_a)
        self.hsic.update(features[:split], features[split:])

    def _pair_result(self, a: str, b: str, matrix: np.ndarray) -> LayerComparison:
        cosine = rel_l2 = None
        if (a, b) in self.sums:
            ab, aa, bb, dd = self.sums[(a, b)].tolist()
            cosine = ab / math.sqrt(aa * bb) if aa > 0 and bb > 0 else math.nan
            rel_l2 = math.sqrt(dd / aa) if aa > 0 else math.nan
        match = None
        if (a, b) in self.correlations:
            probe_a, probe_b = self.probes[(a, b)]
            match = match_channels(self.correlations[(a, b)].result(), a, b, probe_a=probe_a, probe_b=probe_b,
                                   labels=self.labels)
            if self.correlations[(a, b)].pooled:
                self.notes.append(f"{a}: maps of different sizes, average-pooled to the smaller one for the match")
        cka = float(matrix[self.keys_a.index(a), self.keys_b.index(b)])
        return LayerComparison(a, b, cka, cosine, rel_l2, self.shapes["a:" + a], self.shapes["b:" + b], match)

    def result(self, a: dict, b: dict, notes: list[str]) -> Comparison:
        if self.hsic is None:
            raise InputError("No inputs were compared (an empty tensor or an empty iterable).")
        last = self.blocks.finish()
        if last is not None:
            if len(last[0]) < MIN_INPUTS:  # only when every input together is too few
                raise InputError(f"compare got {len(last[0])} input(s); CKA needs at least {MIN_INPUTS} (debiased "
                                 "HSIC divides by n(n-3)). Give more inputs.")
            self._hsic(last)
        matrix = self.hsic.result()
        pairs = [self._pair_result(x, y, matrix) for x, y in self.pairs]
        if any(not np.isfinite(p.cka) for p in pairs):
            self.notes.append("CKA is undefined (shown as null) where a layer does not vary across the inputs.")
        return Comparison(a, b, self.inputs, pairs, self.keys_a, self.keys_b, matrix, self.labels, self.debiased,
                          notes + self.notes)
