"""``layerscope.diagnose(model, inputs, layers)``: stream inputs through the model, judge every layer.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
>>> with torch.no_grad():
...     _ = model[0].weight[2].zero_(), model[0].bias[2].fill_(-1.0)  # plant a dead channel
>>> result = diagnose(model, torch.randn(8, 1, 16, 16))
>>> result["1"].flagged["dead"]  # the ReLU after the conv: the default layer
[2]

A consumer of the spine: the model is a :class:`~layerscope.run.Subject`, the inputs go through one
:class:`~layerscope.run.Run`, each layer's tensor becomes maps through
:class:`~layerscope.run.LayerMaps`, and the predictions are the subject's
(:meth:`~layerscope.run.Subject.predictions`, the one rule).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..capturing import ModelState, model_device
from ..capturing.select import LayerSelector
from ..core.layout import Maps
from ..errors import InputError
from ..io.feed import Feed, image_tensor
from ..run import LayerMaps, Run, RunOptions, Step, Subject
from ..stats import ChannelStats, ChannelSummary, noise_score
from ..stats._reduce import BLOCK
from ..stats.channels import update_together
from .fingerprint import BNWatch
from .inputs import InputStats, first_inputs, input_findings, swap_confidence
from .metrics import activation_bounds, expected_firing, rectified
from .model import first_nonfinite, tendency
from .options import DiagnoseOptions, diagnose_options
from .outputs import ClassifierOutputs
from .provenance import checkpoint_of, preprocessings, skipped_note
from .result import Diagnosis, LayerDiagnosis
from .thresholds import Thresholds
from .verdict import finite_median, judge
from .weights import weight_evidence

__all__ = ["diagnose", "DiagnosisStream"]


class _Maps(LayerMaps):
    """The spine's layer-to-maps adapter, with diagnose's two rules: a vector ``(N, C)`` is ``C`` channels of
    one value each (their scale, dead share and rank are judged; no spatial check applies), and a tensor that
    is not floating point, or has no channel dimension, is not diagnosed."""

    def maps(self, name: str, tensor: torch.Tensor, record: Mapping[str, Any], input_size: Any) -> Optional[Maps]:
        if name in self.skipped:
            return None
        if not tensor.is_floating_point() or tensor.dim() < 2:
            self.skipped[name] = f"a {tensor.dtype} tensor of shape {tuple(tensor.shape)} has no channels to judge"
            return None
        if tensor.dim() == 2 and self.layouts.get(name, "NC") == "NC":
            if name not in self.rows:
                self.rows[name] = {**record, "shape": list(tensor.shape[1:]), "channels": int(tensor.shape[1]),
                                   "layout": "NC", "notes": []}
            return Maps(tensor[:, :, None, None], "NC", tuple(tensor.shape))
        return super().maps(name, tensor, record, input_size)


class _Layer:
    """Per-layer state while streaming: the accumulator and what the first batch said (``row``: the layer's
    :class:`~layerscope.run.LayerMaps` row)."""

    def __init__(self, row: dict[str, Any], module: Any, t: Thresholds, rectified: Optional[bool],
                 stride: Optional[float], firing: Optional[np.ndarray] = None, rank: bool = False) -> None:
        self.row, self.rectified, self.stride, self.firing = row, rectified, stride, firing
        self.bounds = activation_bounds(module)
        self.stats = ChannelStats(
            row["channels"], bounds=self.bounds, active=t.active, saturation_tol=t.saturation_tol,
            min_noise_size=t.min_noise_size, covariance=rank, noise_values=t.noise_values,
        )
        self.input_noise = [0.0, 0]  # sum and count of the input's noise score at this layer's resolution

    def add_input_noise(self, score: Optional[torch.Tensor]) -> None:
        if score is not None:
            self.input_noise[0] += float(score.sum())
            self.input_noise[1] += int(score.numel())


def input_noise(batch: torch.Tensor, size: tuple[int, int], min_size: int) -> Optional[torch.Tensor]:
    """Noise score of each input image (channel mean) area-resized to a layer's map size; None if n/a.

    The reference for the relative noise: how much fine detail the input itself has at that scale.
    """
    if batch.dim() != 4 or min(size) < min_size or size[0] > batch.shape[-2] or size[1] > batch.shape[-1]:
        return None
    gray = batch.to(torch.float64).mean(1, keepdim=True)
    if tuple(gray.shape[-2:]) != size:
        gray = torch.nn.functional.interpolate(gray, size=size, mode="area")
    score = noise_score(gray)[:, 0]
    return score[torch.isfinite(score)]


def _layer_noise(summary: ChannelSummary, flagged: dict[str, list[int]]) -> Optional[float]:
    keep = np.ones(summary.channels, dtype=bool)
    for kind in ("nonfinite", "dead", "uniform"):
        keep[flagged[kind]] = False
    median = finite_median(summary.noise[keep])
    return None if math.isnan(median) else median


def _finish(layer: _Layer, t: Thresholds, trained: bool = False) -> LayerDiagnosis:
    s = layer.stats.result()
    noise_judged = layer.stride is None or layer.stride >= t.noisy_min_stride
    seen = np.isfinite(s.min)
    rectified = layer.rectified if layer.rectified is not None else bool(seen.any() and (s.min[seen] >= 0).all())
    firing = layer.firing if layer.firing is not None and len(layer.firing) == s.channels else None
    v = judge(s, t, layer.bounds, dead=rectified, noisy=noise_judged, firing=firing, trained=trained)
    finite = s.values - s.nan - s.inf
    weight = finite.sum()
    scale = float(np.sqrt(np.nansum(finite * s.rms**2) / weight)) if weight else math.nan
    inactive = float(np.nansum(finite * s.inactive) / weight) if weight else math.nan
    row = layer.row
    return LayerDiagnosis(
        name=row["name"], module_type=row["module_type"], shape=tuple(row["shape"]), layout=row["layout"],
        judgement=v, scale=scale, effective_rank=s.effective_rank, noise=_layer_noise(s, v.flagged),
        inactive=inactive, channels_summary=s, notes=list(row["notes"]), bounds=layer.bounds,
        input_noise=layer.input_noise[0] / layer.input_noise[1] if layer.input_noise[1] else None,
        rectified=rectified, stride=layer.stride,
    )


def diagnose(
    model: Any,
    inputs: Any,
    layers: LayerSelector = None,
    *,
    preprocessing: Any = None,
    layouts: Optional[Mapping[str, str]] = None,
    options: Optional[DiagnoseOptions] = None,
    run: Optional[RunOptions] = None,
    **fields: Any,
) -> Diagnosis:
    """Judge every selected layer of ``model`` on ``inputs`` and check the inputs themselves.

    ``model``: an ``nn.Module``, a spec (``"builtin:digits"``, ``"torchvision:resnet18"``), a
    ``LoadedModel`` or a :class:`~layerscope.run.Subject`; its own (native) preprocessing gives the
    expected input range and size, and an overridden one (``with_preprocessing``, or ``preprocessing=``,
    which image inputs then go through) is compared with it (for a bare module, whose preprocessing is
    only assumed, ``preprocessing=`` is the expected one). ``inputs``: anything
    :class:`~layerscope.io.feed.Feed` takes: a tensor (N, C, H, W), image paths / folders / PIL images,
    :class:`~layerscope.Args`, or an iterable of batches (a whole dataset is streamed batch by batch;
    statistics are merged exactly), or a ``Feed`` made with loading options. ``layers``: as
    :func:`~layerscope.capturing.select_layers` (default: the subject's; for a CNN
    what follows each convolution's normalization and activation, where dead and saturated apply).
    ``layouts`` maps a layer name to a layout (``"NHWC"``, ``"tokens"`` ...) when it cannot be inferred.

    ``options``: a :class:`~layerscope.diagnosis.options.DiagnoseOptions` (``thresholds``,
    ``channel_order``); ``run``: a :class:`~layerscope.run.RunOptions` (default batch size 32, device,
    loading); ``fields``: keywords naming fields of either (``thresholds={"dead_bad": 0.4}``,
    ``channel_order=False``, ``batch_size=64``).
    """
    opts, running = diagnose_options(options, run, fields)
    (inputs if isinstance(inputs, Feed) else Feed(inputs, recursive=running.recursive)).check()  # before any model
    subject = Subject.of(model, layers, preprocessing=preprocessing, layouts=layouts, device=running.device)
    return _diagnose(subject, Run(subject, inputs, running, desc="diagnose"), opts)


def _diagnose(subject: Subject, run: Run, opts: DiagnoseOptions) -> Diagnosis:
    stream = DiagnosisStream(subject, opts)
    with stream.watching():  # the BatchNorm fingerprint reads the inputs as given from this run's forwards
        for step in run:
            stream.update(step)
    return stream.result(run.feed)


class DiagnosisStream:
    """A diagnosis fed by a run someone else drives: ``update(step)`` for each
    :class:`~layerscope.run.Step`, then ``result(feed)``.

    What :func:`diagnose` does inside, for a verb that already runs the model on the inputs (the report
    renders and judges the layers of one forward, not two). The steps must come from a
    :class:`~layerscope.run.Run` of the same ``subject``; ``options``: a
    :class:`~layerscope.diagnosis.options.DiagnoseOptions` (default: the defaults).

    >>> import torch, torch.nn as nn
    >>> from layerscope.run import Run, RunOptions
    >>> subject = Subject.of(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()))
    >>> run = Run(subject, torch.randn(8, 1, 16, 16), RunOptions(progress=False))
    >>> stream = DiagnosisStream(subject)
    >>> for step in run:
    ...     stream.update(step)
    >>> stream.result(run.feed).inputs
    8
    """

    def __init__(self, subject: Subject, options: Optional[DiagnoseOptions] = None) -> None:
        self.subject, self.options = subject, DiagnoseOptions.of(options)
        t = self.options.thresholds
        own, used, certain = preprocessings(subject.loaded)
        expected = own if certain or used is None else used
        floor = t.constant_std / min(expected.std) if expected is not None else t.constant_std
        self._stream = _Stream(subject, t, InputStats(t.grayscale_corr, floor, t.input_noise),
                               ClassifierOutputs(self.options.predictions), rank=self.options.effective_rank)

    def update(self, step: Step) -> None:
        """Judge one step's batch: its layers' statistics, the input checks' and the outputs' confidence."""
        self._stream.step(step)

    def watching(self) -> BNWatch:
        """A context in which the steps' forwards also give the BatchNorm fingerprint the moments of the inputs as
        given (:class:`~layerscope.diagnosis.fingerprint.BNWatch`): enter it before the run's first forward, and
        the fingerprint needs no forward of its own for them (without it, it runs one)."""
        t = self.options.thresholds
        self._stream.watch = BNWatch(self.subject.module, t.bn_layers, t.bn_inputs)
        return self._stream.watch

    def result(self, feed: Feed) -> Diagnosis:
        """The :class:`~layerscope.diagnosis.Diagnosis` of every step given (``feed``: the run's, for its count,
        its images and what it skipped)."""
        if feed.count == 0:
            raise InputError("No inputs were given to diagnose (an empty tensor or an empty iterable).")
        subject, opts, stream = self.subject, self.options, self._stream
        loaded, t = subject.loaded, opts.thresholds
        weights = weight_evidence(subject.module, t)  # data-free: read first, so the layers are judged knowing it
        layer_results = [_finish(layer, t, weights.label == "trained") for layer in stream.state.values()]
        notes = [f"{name}: not diagnosed: {why}" for name, why in stream.maps.skipped.items()]
        raw = [(r.path, r.original_mode, r.original_size) for r in feed.images]
        sample = first_inputs(stream.kept, max(t.channel_order_inputs, t.bn_inputs))
        order = partial(_channel_order, outputs=stream.outputs) if opts.channel_order else None  # as given: the run's
        findings, more = input_findings(loaded, stream.input_stats, sample, t, raw_images=raw or None,
                                        channel_order=order,
                                        decoded=bool(raw) and len(raw) == feed.count,
                                        bn_given=stream.watch.moments if stream.watch is not None else None)
        notes += more
        if not opts.channel_order:  # the user's choice covers the BatchNorm check of the channel order too
            findings = [f for f in findings if f.code != "input.channel_order"]
        notes += skipped_note(feed.skipped, len(raw) or feed.count) + first_nonfinite(layer_results)
        judged = tendency(layer_results, t, stream.input_stats, stream.outputs, subject.module, weights)
        return Diagnosis(loaded.spec, feed.count, findings, layer_results, judged, t,
                         notes, preprocessing=loaded.preprocessing.to_dict(),
                         native_preprocessing=loaded.native_preprocessing.to_dict(), weights=loaded.weights,
                         checkpoint=checkpoint_of(loaded), skipped=list(feed.skipped),
                         predictions=stream.outputs.predictions)


class _Stream:
    """Takes a run's steps once, feeding each layer's accumulator, the input checks and the output's confidence."""

    def __init__(self, subject: Subject, t: Thresholds, input_stats: InputStats, outputs: ClassifierOutputs,
                 rank: bool = False) -> None:
        self.subject, self.t, self.input_stats, self.outputs, self.rank = subject, t, input_stats, outputs, rank
        self.maps = _Maps(subject.layouts, subject.transforms)
        self.modules = dict(subject.module.named_modules())
        self.state: dict[str, _Layer] = {}
        self.kept: list[torch.Tensor] = []
        self.watch: Optional[BNWatch] = None
        self.records: dict[str, dict[str, Any]] = {}  # per layer, its first batch's metadata (module, type)

    def step(self, step: Step) -> None:
        image = image_tensor(step.batch)
        images = image is not None and image.dim() == 4 and image.is_floating_point()
        if self.watch is not None:
            self.watch.take(image if images else None)
        if images:
            self.input_stats.update(image)
            if sum(len(b) for b in self.kept) < max(self.t.channel_order_inputs, self.t.bn_inputs):
                self.kept.append(image)
        acts = step.acts
        if self.subject.loaded.predicts_classes:  # an embedding's or a mask's numbers are no class confidence
            self.outputs.update(acts.output, step.sources, step.predictions() if self.outputs.room else None)
        scored = ~self.input_stats.constant_inputs(image) if images else None
        size = tuple(image.shape[-2:]) if image is not None and image.dim() >= 3 else None
        noise: dict[tuple, Optional[torch.Tensor]] = {}  # the input's noise score at each map size, once a batch
        updates = []
        for name, tensor in acts.items():
            record = self.records.get(name) if tensor.dim() != 3 else None  # a token layer's geometry follows its size
            if record is None:
                record = self.records[name] = acts.describe(name)
            maps = self.maps.maps(name, tensor, record, size)
            if maps is None:
                continue
            values = maps.maps
            layer = self.state.get(name) or self._new(name, values, size)
            same = scored is not None and values.shape[0] == scored.shape[0]
            which = scored.to(values.device) if same else None
            if values.numel() < BLOCK:  # small maps (most layers at batch 1): reduced together below
                updates.append((layer.stats, values, which))
            else:
                layer.stats.update(values, which)
            self._input_noise(layer, values, image, noise)
        update_together(updates)

    def _input_noise(self, layer: _Layer, values: torch.Tensor, image: Optional[torch.Tensor],
                     noise: dict[tuple, Optional[torch.Tensor]]) -> None:
        if image is not None and image.dim() == 4 and values.shape[0] == image.shape[0]:
            at = tuple(values.shape[-2:])
            if at not in noise:
                noise[at] = input_noise(image, at, self.t.min_noise_size)
            layer.add_input_noise(noise[at])

    def _new(self, name: str, maps: torch.Tensor, size: Optional[tuple]) -> _Layer:
        row = self.maps.rows[name]
        stride = size[0] / maps.shape[-2] if size and maps.shape[-2] > 1 else None
        if "transform" in row:  # latents of a dictionary (never negative, sparse): the module says nothing of them
            layer = _Layer(row, None, self.t, True, stride, None, rank=self.rank)
        else:
            layer = _Layer(row, self.modules.get(row["module"]), self.t,
                           rectified(self.subject.module, row["module"], self.modules), stride,
                           expected_firing(self.subject.module, row["module"], self.modules), rank=self.rank)
        self.state[name] = layer
        return layer


def _channel_order(loaded, sample: torch.Tensor, t: Thresholds,
                   outputs: Optional[ClassifierOutputs] = None) -> Optional[tuple[float, float, int]]:
    """The BGR/RGB check: a trained classifier's confidence on the inputs as given and channel-swapped.

    ``outputs``: the run's own outputs; when they hold the sample's top-class probabilities (the sample is the
    run's first inputs), the confidence as given is theirs and only the swapped inputs need a forward.
    """
    if not loaded.predicts_classes:
        return None
    sample = sample[: t.channel_order_inputs]
    n = int(sample.shape[0])
    given = None
    if outputs is not None and outputs.classes_count and len(outputs.tops) >= n:
        given = (math.fsum(outputs.tops[:n]) / n, outputs.classes_count)
    device, dtype = model_device(loaded.module)
    prep = loaded.preprocessing
    with ModelState(loaded.module) as state, state.forward(), torch.inference_mode(False), torch.no_grad():
        return swap_confidence(loaded.module, sample.to(device=device, dtype=dtype or sample.dtype), prep.mean, prep.std,
                               given=given)
