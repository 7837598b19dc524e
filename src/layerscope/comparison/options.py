"""How two models are compared: :class:`CompareOptions` (which layers pair up, what is matched, how it is named).

>>> CompareOptions(pairs={"features.0": "conv1"}).pairs
(('features.0', 'conv1'),)
>>> CompareOptions(match=["conv1"]).match, CompareOptions(labels=["before", "after"]).labels
(('conv1',), ('before', 'after'))
>>> CompareOptions(pairs=[("conv1",)])
Traceback (most recent call last):
...
layerscope.errors.InputError: pairs must map layer names of model a to layer names of model b, e.g. ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from ..core.options import Options
from ..errors import InputError
from .cka import MIN_INPUTS

__all__ = ["CompareOptions"]


@dataclass(frozen=True)
class CompareOptions(Options):
    """What :func:`~layerscope.comparison.compare` compares, besides the two subjects and the inputs.

    ``pairs``: layers of A paired with layers of B (``{"features.0": "conv1"}`` or
    ``[("features.0", "conv1")]``); empty: layers with the same name pair up. Pairs also default the
    layers to the paired ones. ``layers_b``: the layers of B when they differ from ``layers`` (for
    the heat map). ``match``: match channels by correlation on every pair (True), none (False) or
    on the pairs of these layers of A. ``labels``: the names of the two sides in pictures and text.
    ``debiased``: the unbiased HSIC estimator (False: the biased one of older papers). ``block``:
    inputs per HSIC estimate (:class:`~.cka.Blocks`; the estimates are summed, whatever the batches):
    larger blocks estimate CKA over all inputs more closely and hold more features in memory.
    """

    pairs: Any = ()
    layers_b: Any = None
    match: Union[bool, tuple[str, ...]] = True
    labels: tuple[str, str] = ("A", "B")
    debiased: bool = True
    block: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairs", _pairs(self.pairs))
        if isinstance(self.layers_b, list):
            object.__setattr__(self, "layers_b", tuple(self.layers_b))
        if not isinstance(self.match, bool):
            if isinstance(self.match, str) or not all(isinstance(m, str) for m in self.match):
                raise InputError(f"match={self.match!r} must be True, False or a list of layer names of model a.")
            object.__setattr__(self, "match", tuple(self.match))
        labels = tuple(self.labels)
        if len(labels) != 2 or not all(isinstance(x, str) for x in labels):
            raise InputError(f"labels={self.labels!r} must be two names, one per side, e.g. ('before', 'after').")
        object.__setattr__(self, "labels", labels)
        if not isinstance(self.debiased, bool):
            raise InputError(f"debiased={self.debiased!r} must be True or False.")
        if isinstance(self.block, bool) or not isinstance(self.block, int) or self.block < MIN_INPUTS:
            raise InputError(f"block={self.block!r} must be a whole number of inputs, at least {MIN_INPUTS} "
                             "(one HSIC estimate per block; the default is 32).")


def _pairs(pairs: Any) -> tuple[tuple[str, str], ...]:
    if pairs is None or (isinstance(pairs, (tuple, list)) and not pairs):
        return ()
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    if not items or not all(isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(n, str) for n in p)
                            for p in items):
        raise InputError(f"pairs must map layer names of model a to layer names of model b, e.g. "
                         f"{{'features.0': 'conv1'}} or [('features.0', 'conv1')]; got {pairs!r}.")
    return tuple((str(x), str(y)) for x, y in items)
