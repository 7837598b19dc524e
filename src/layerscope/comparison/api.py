"""``layerscope.compare(a, b, inputs)``: how alike two models' layers are on the same inputs.

>>> import torch, torch.nn as nn
>>> _ = torch.manual_seed(0)
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
>>> result = compare(net, net, torch.randn(8, 1, 12, 12))
>>> [(p.layer_a, round(p.cka, 6), round(p.rel_l2, 6)) for p in result.pairs]
[('0', 1.0, 0.0), ('2', 1.0, 0.0)]
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import torch

from ..capturing import Recorder, select_layers
from ..capturing.call import batch_size_of
from ..capturing.select import LayerSelector
from ..errors import InputError
from ..io.feed import Feed, image_tensor
from ..io.resolve import resolve_model
from .cka import MIN_INPUTS
from .result import Comparison
from .stream import Streams

__all__ = ["compare"]

Pairs = Union[Mapping[str, str], Sequence[tuple[str, str]], None]


def compare(
    a: Any,
    b: Any = None,
    inputs: Any = None,
    layers: LayerSelector = None,
    *,
    inputs_b: Any = None,
    pairs: Pairs = None,
    layers_b: LayerSelector = None,
    match: Union[bool, Sequence[str]] = True,
    batch_size: int = 32,
    preprocessing: Any = None,
    preprocessing_b: Any = None,
    labels: tuple[str, str] = ("A", "B"),
    debiased: bool = True,
) -> Comparison:
    """Compare the layers of model ``a`` with those of model ``b`` on the same ``inputs``.

    ``a``, ``b``: ``nn.Module``\\ s, specs (``"builtin:digits"``, ``"torchvision:resnet18"``) or
    ``LoadedModel``\\ s (e.g. one architecture loaded with two checkpoints). ``b=None`` with
    ``inputs_b``: model ``a`` on two input sets, paired item by item (input i of ``inputs`` with
    input i of ``inputs_b``: clean vs corrupted, say). ``inputs``: anything
    :class:`~layerscope.io.feed.Feed` takes; image files go through each model's own preprocessing
    (``preprocessing`` / ``preprocessing_b`` replace them). At least 4 inputs (debiased HSIC).

    Layers: ``layers`` selects the layers of ``a`` (and of ``b`` unless ``layers_b`` is given; default
    every convolution); layers with the same name are paired. Two different architectures: give
    ``pairs`` (``{"features.0": "conv1"}`` or ``[("features.0", "conv1")]``), which also defaults the
    layers to the paired ones. Every selected layer of ``a`` is also compared with every selected
    layer of ``b`` for the heat map (``result.matrix``).

    Per pair: linear CKA (debiased HSIC summed over batches, one ratio at the end), the cosine
    similarity and relative L2 distance of the activations (same shapes only), and with ``match``
    (True: every pair; or a list of A's layer names; False: none) the channels matched by
    correlation (Hungarian assignment). ``labels`` name the two sides in pictures and text;
    ``debiased=False`` uses the biased HSIC estimator (for comparison with older papers).
    """
    if inputs is None:
        raise InputError("compare needs inputs: a tensor (N, C, H, W) or image files, the same for both models.")
    if b is None and inputs_b is None:
        raise InputError("Nothing to compare: give a second model (b) or a second set of inputs (inputs_b=...).")
    loaded_a = resolve_model(a, preprocessing=preprocessing)
    same = b is None and preprocessing_b is None
    loaded_b = loaded_a if same else resolve_model(b if b is not None else a, preprocessing=preprocessing_b)
    pairs = _check_pairs(pairs)
    if pairs and layers is None:
        layers = list(dict.fromkeys(_module_names(loaded_a.module, [x for x, _ in pairs])))
    if pairs and layers_b is None:
        layers_b = list(dict.fromkeys(_module_names(loaded_b.module, [y for _, y in pairs])))
    names_a = select_layers(loaded_a.module, layers)
    names_b = select_layers(loaded_b.module, layers if layers_b is None else layers_b)
    streams = Streams(pairs, match, tuple(labels), debiased)
    with _recorders(loaded_a.module, loaded_b.module, names_a, names_b) as (rec_a, rec_b):
        for batch_a, batch_b in _at_least(_batches(inputs, inputs_b, loaded_a, loaded_b, batch_size), MIN_INPUTS):
            if (batch_size_of(batch_a) or 1) < MIN_INPUTS:  # only when every input together is too few
                raise InputError(f"compare got {batch_size_of(batch_a) or 1} input(s); CKA needs at least "
                                 f"{MIN_INPUTS} (debiased HSIC divides by n(n-3)). Give more inputs.")
            streams.update(rec_a(batch_a), rec_b(batch_b), image_tensor(batch_a), image_tensor(batch_b))
    notes = ["B is model A on the second input set (inputs_b), paired input by input."] if b is None else []
    return streams.result(loaded_a.to_dict(), loaded_b.to_dict(), notes)


def _check_pairs(pairs: Pairs) -> list[tuple[str, str]]:
    if pairs is None:
        return []
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    if not items or not all(isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(n, str) for n in p)
                            for p in items):
        raise InputError(f"pairs must map layer names of model a to layer names of model b, e.g. "
                         f"{{'features.0': 'conv1'}} or [('features.0', 'conv1')]; got {pairs!r}.")
    return [(str(x), str(y)) for x, y in items]


def _module_names(module: torch.nn.Module, keys: Sequence[str]) -> list[str]:
    """The module names of capture keys (``block:0`` -> ``block``, ``conv#1`` -> ``conv``), checked."""
    names = [key.split(":", 1)[0].split("#", 1)[0] for key in keys]
    select_layers(module, names)  # a missing name raises LayerNotFoundError with "did you mean"
    return names


@contextlib.contextmanager
def _recorders(module_a, module_b, names_a: list[str], names_b: list[str]) -> Iterator[tuple[Recorder, Recorder]]:
    """One recorder per model; one for both when ``a`` and ``b`` are one module (two input sets)."""
    if module_a is module_b:
        with Recorder(module_a, list(dict.fromkeys(names_a + names_b))) as rec:
            yield _Only(rec, names_a), _Only(rec, names_b)
        return
    with Recorder(module_a, names_a) as rec_a, Recorder(module_b, names_b) as rec_b:
        yield rec_a, rec_b


class _Only:
    """A shared recorder's captures restricted to one side's layers."""

    def __init__(self, rec: Recorder, names: list[str]) -> None:
        self.rec, self.names = rec, set(names)

    def __call__(self, batch: Any):
        acts = self.rec(batch)
        keep = [key for key in acts if acts.info[key].module in self.names]
        return dataclasses.replace(acts, tensors={k: acts[k] for k in keep}, info={k: acts.info[k] for k in keep})


def _batches(inputs: Any, inputs_b: Any, loaded_a, loaded_b, batch_size: int) -> Iterator[tuple[Any, Any]]:
    """Pairs of batches (for A, for B) of the same inputs, each preprocessed for its model."""
    feed_a = Feed.of(inputs, loaded_a.preprocessing, batch_size)
    if inputs_b is not None:
        feed_b = Feed.of(inputs_b, loaded_b.preprocessing, batch_size)
    elif not feed_a.from_images or loaded_b.preprocessing == loaded_a.preprocessing:
        yield from ((batch, batch) for batch in feed_a)
        return
    else:
        feed_b = Feed(feed_a.inputs, loaded_b.preprocessing, feed_a.batch_size, strict=feed_a.strict,
                      recursive=feed_a.recursive, max_pixels=feed_a.max_pixels)
    end = object()
    for index, (x, y) in enumerate(itertools.zip_longest(feed_a, feed_b, fillvalue=end)):
        if x is end or y is end or batch_size_of(x) != batch_size_of(y):
            raise InputError(f"The two input sets differ in size (at batch {index}); CKA pairs input i of one set "
                             "with input i of the other, so give both the same number of inputs in the same batches.")
        yield x, y


def _at_least(pairs: Iterator[tuple[Any, Any]], minimum: int) -> Iterator[tuple[Any, Any]]:
    """The batch pairs regrouped so that each has at least ``minimum`` inputs (a short tail joins the last)."""
    held: Optional[tuple[Any, Any]] = None
    pending: list[tuple[Any, Any]] = []
    for pair in pairs:
        pending.append(pair)
        if sum(batch_size_of(p[0]) or 1 for p in pending) >= minimum:
            if held is not None:
                yield held
            held, pending = _join(pending), []
    if pending:
        held = _join(([held] if held is not None else []) + pending)
    if held is not None:
        yield held


def _join(pairs: list[tuple[Any, Any]]) -> tuple[Any, Any]:
    if len(pairs) == 1:
        return pairs[0]
    sides = list(zip(*pairs))
    if not all(isinstance(batch, torch.Tensor) for side in sides for batch in side):
        raise InputError(f"compare needs batches of at least {MIN_INPUTS} inputs (debiased HSIC); batches that are "
                         "not plain tensors cannot be joined, so give larger batches.")
    return torch.cat(sides[0]), torch.cat(sides[1])
