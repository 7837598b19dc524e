"""``layerscope.compare(a, b, inputs)``: how alike two models' layers are on the same inputs.

>>> import torch, torch.nn as nn
>>> _ = torch.manual_seed(0)
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
>>> result = compare(net, net, torch.randn(8, 1, 12, 12))
>>> [(p.layer_a, round(p.cka, 6), round(p.rel_l2, 6)) for p in result.pairs]
[('1', 1.0, 0.0), ('2', 1.0, 0.0)]

**The loop.** A :class:`~layerscope.run.Run` is one model's loop; a comparison runs two models on
*paired* batches, so it reads its inputs once as one paired stream and keeps one
:class:`~layerscope.capturing.Recorder` per model (one for both when they are one module: a model
on two input sets). Two zipped Runs would read the inputs twice, which pairs the wrong inputs when
they can be read only once or come in another order the second time (a generator, a shuffling
``DataLoader``). The inputs are read with :func:`~layerscope.run.loop.feed_of` (each subject's
preprocessing, the :class:`~layerscope.run.RunOptions` loading settings): a tensor, or images that
both models preprocess alike, is fed to both models as the same batch; images that two models
preprocess differently are read twice, once per preprocessing, and checked batch by batch. The
batches may have any sizes: the CKA takes the inputs in blocks of ``block`` (32) whatever the batches
(:class:`~.cka.Blocks`), so ``batch_size`` changes the memory and the speed, never the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from typing import Any, Iterator, Optional, Sequence

import torch

from ..capturing import Recorder, select_layers
from ..capturing.call import batch_size_of
from ..capturing.select import LayerSelector
from ..core.options import share_out
from ..errors import InputError
from ..io.feed import Feed, image_tensor
from ..run.loop import feed_of
from ..run.options import RunOptions
from ..run.subject import Subject
from .options import CompareOptions
from .result import Comparison
from .stream import Streams

__all__ = ["compare", "DEFAULT_RUN"]

DEFAULT_RUN = RunOptions(batch_size=32)  # one HSIC block (CompareOptions.block) per forward pass


def compare(
    a: Any,
    b: Any = None,
    inputs: Any = None,
    layers: LayerSelector = None,
    *,
    inputs_b: Any = None,
    options: Optional[CompareOptions] = None,
    run: Optional[RunOptions] = None,
    **fields: Any,
) -> Comparison:
    """Compare the layers of ``a`` with those of ``b`` on the same ``inputs``.

    ``a``, ``b``: :class:`~layerscope.run.Subject`\\ s, ``nn.Module``\\ s, specs (``"builtin:digits"``,
    ``"torchvision:resnet18"``) or ``LoadedModel``\\ s (e.g. one architecture loaded with two
    checkpoints), each resolved once (:meth:`Subject.of <layerscope.run.Subject.of>`); a model's own
    preprocessing and layer layouts travel in its Subject (``Subject.of(model, preprocessing=...)``).
    ``b=None`` with ``inputs_b``: ``a`` on two input sets, paired item by item (input i of ``inputs``
    with input i of ``inputs_b``: clean vs corrupted, say). ``inputs``: anything
    :class:`~layerscope.io.feed.Feed` takes; image files go through each model's own preprocessing.
    At least 4 inputs (debiased HSIC), in batches of any sizes.

    Layers: ``layers`` selects the layers of ``a`` (and of ``b`` unless ``layers_b`` is given; default:
    a Subject's own layers, else the default layers of :func:`~layerscope.capturing.select_layers`);
    layers with the same name are paired. Two different
    architectures: give ``pairs``, which also defaults the layers to the paired ones. Every selected
    layer of ``a`` is also compared with every selected layer of ``b`` for the heat map (``result.matrix``).

    ``options``: a :class:`~layerscope.comparison.options.CompareOptions` (``pairs``, ``layers_b``,
    ``match``, ``labels``, ``debiased``, ``block``); ``run``: a :class:`~layerscope.run.RunOptions` (default
    :data:`DEFAULT_RUN`: batches of 32; ``device``, ``strict``, ``recursive``, ``max_pixels``). Any of
    their fields may also be given as a keyword that replaces it: ``compare(a, b, x, match=False,
    batch_size=16)``.

    Per pair: linear CKA (debiased HSIC of centred features, summed over blocks of 32 inputs, one
    ratio at the end; a shifted copy of a layer scores 1), the cosine similarity and relative L2
    distance of the activations (same shapes only, uncentred), and the channels matched by
    correlation (Hungarian assignment).
    """
    options, run = _options(options, run, fields)
    if inputs is None:
        raise InputError("compare needs inputs: a tensor (N, C, H, W) or image files, the same for both models.")
    if b is None and inputs_b is None:
        raise InputError("Nothing to compare: give a second model (b) or a second set of inputs (inputs_b=...).")
    subject_a, subject_b = _subjects(a, b, layers, options, run)
    streams = Streams(options.pairs, options.match, options.labels, options.debiased,
                      (subject_a.layouts, subject_b.layouts), options.block)
    with _recorders(subject_a, subject_b) as (rec_a, rec_b):
        for batch_a, batch_b in _batches(inputs, inputs_b, subject_a, subject_b, run):
            streams.update(rec_a(batch_a), rec_b(batch_b), image_tensor(batch_a), image_tensor(batch_b))
    notes = ["B is model A on the second input set (inputs_b), paired input by input."] if b is None else []
    return streams.result(subject_a.loaded.to_dict(), subject_b.loaded.to_dict(), notes)


def _options(options: Optional[CompareOptions], run: Optional[RunOptions],
             fields: dict[str, Any]) -> tuple[CompareOptions, RunOptions]:
    """The two option objects with ``fields`` (keywords naming their fields) replacing theirs."""
    for name in ("preprocessing", "preprocessing_b", "layouts"):
        if name in fields:
            raise InputError(f"compare takes no {name}=: a model's preprocessing and layouts travel with it; pass "
                             f"Subject.of(model, preprocessing=..., layouts=...) as a or b.")
    mine, ran, _ = share_out("compare", fields, CompareOptions, RunOptions)
    return CompareOptions.of(options, **mine), RunOptions.of(DEFAULT_RUN if run is None else run, **ran)


def _subjects(a: Any, b: Any, layers: LayerSelector, options: CompareOptions,
              run: RunOptions) -> tuple[Subject, Subject]:
    """Each model resolved once, with the layers it is compared on (``b=None``: ``a`` itself)."""
    subject_a = Subject.of(a, layers, device=run.device)
    layers_b = layers if options.layers_b is None else options.layers_b
    subject_b = Subject.of(subject_a if b is None else b, layers_b, device=run.device)
    if options.pairs:
        if layers is None:
            subject_a = Subject.of(subject_a, _module_names(subject_a.module, [x for x, _ in options.pairs]))
        if options.layers_b is None:
            subject_b = Subject.of(subject_b, _module_names(subject_b.module, [y for _, y in options.pairs]))
    return subject_a, subject_b


def _module_names(module: torch.nn.Module, keys: Sequence[str]) -> list[str]:
    """The module names of capture keys (``block:0`` -> ``block``, ``conv#1`` -> ``conv``), checked, once each."""
    names = list(dict.fromkeys(key.split(":", 1)[0].split("#", 1)[0] for key in keys))
    select_layers(module, names)  # a missing name raises LayerNotFoundError with "did you mean"
    return names


@contextlib.contextmanager
def _recorders(a: Subject, b: Subject) -> Iterator[tuple[Any, Any]]:
    """One recorder per model; one for both when ``a`` and ``b`` are one module (two input sets)."""
    if a.module is b.module:
        with Recorder(a.module, list(dict.fromkeys(a.layers + b.layers))) as rec:
            yield _Only(rec, a.layers), _Only(rec, b.layers)
        return
    with Recorder(a.module, a.layers) as rec_a, Recorder(b.module, b.layers) as rec_b:
        yield rec_a, rec_b


class _Only:
    """A shared recorder's captures restricted to one side's layers."""

    def __init__(self, rec: Recorder, names: list[str]) -> None:
        self.rec, self.names = rec, set(names)

    def __call__(self, batch: Any):
        acts = self.rec(batch)
        keep = [key for key in acts if acts.info[key].module in self.names]
        return dataclasses.replace(acts, tensors={k: acts[k] for k in keep}, info={k: acts.info[k] for k in keep})


def _batches(inputs: Any, inputs_b: Any, a: Subject, b: Subject, run: RunOptions) -> Iterator[tuple[Any, Any]]:
    """Pairs of batches (for A, for B) of the same inputs, each preprocessed for its model."""
    feed_a = feed_of(inputs, a, run)
    if inputs_b is not None:
        feed_b = feed_of(inputs_b, b, run)
    elif not feed_a.from_images or b.preprocessing == a.preprocessing:
        yield from ((batch, batch) for batch in feed_a)
        return
    else:
        feed_b = Feed(feed_a.inputs, b.preprocessing, feed_a.batch_size, strict=feed_a.strict,
                      recursive=feed_a.recursive, max_pixels=feed_a.max_pixels)
    end = object()
    for index, (x, y) in enumerate(itertools.zip_longest(feed_a, feed_b, fillvalue=end)):
        if x is end or y is end or batch_size_of(x) != batch_size_of(y):
            raise InputError(f"The two input sets differ in size (at batch {index}); CKA pairs input i of one set "
                             "with input i of the other, so give both the same number of inputs in the same batches.")
        yield x, y
