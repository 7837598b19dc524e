"""``layerscope.diagnose(model, inputs, layers)``: stream inputs through the model, judge every layer.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
>>> with torch.no_grad():
...     _ = model[0].weight[2].zero_(), model[0].bias[2].fill_(-1.0)  # plant a dead channel
>>> result = diagnose(model, torch.randn(8, 1, 16, 16))
>>> result["0"].flagged["dead"]
[2]
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from ..capturing import ModelState, Recorder, model_device, select_layers
from ..capturing.select import LayerSelector
from ..io.feed import Feed, image_tensor
from ..io.resolve import resolve_model
from ..errors import InputError, LayoutError
from ..stats import ChannelStats, ChannelSummary, noise_score
from .checks import channel_order_note
from .inputs import InputStats, check_inputs, swap_confidence
from .metrics import activation_bounds, rectified
from .outputs import ClassifierOutputs
from .model import first_nonfinite, tendency
from .provenance import checkpoint_of, preprocessings, skipped_note
from .result import Diagnosis, LayerDiagnosis
from .thresholds import Thresholds
from .verdict import judge

__all__ = ["diagnose"]


def _maps(tensor: torch.Tensor, module_type: str, input_size, layout: Optional[str]) -> tuple[torch.Tensor, str, list[str]]:
    """(N, C, H, W) maps, layout name, notes. Vectors (N, C) become (N, C, 1, 1)."""
    if tensor.dim() == 2 and layout in (None, "NC", "nc"):
        return tensor[:, :, None, None], "NC", []
    from ..core.layout import to_maps

    maps = to_maps(tensor, layout=layout, input_size=input_size, module_type=module_type)
    return maps.maps, maps.layout, list(maps.notes)


class _Layer:
    """Per-layer state while streaming: the accumulator and what the first batch said."""

    def __init__(self, info: Any, shape: tuple, module: nn.Module, maps: torch.Tensor, layout: str, notes: list[str],
                 t: Thresholds, rectified: Optional[bool], stride: Optional[float]):
        self.info, self.shape, self.layout, self.notes = info, shape, layout, notes
        self.rectified, self.stride = rectified, stride
        self.bounds = activation_bounds(module)
        self.stats = ChannelStats(
            maps.shape[1], bounds=self.bounds, active=t.active, saturation_tol=t.saturation_tol,
            min_noise_size=t.min_noise_size,
        )
        self.input_noise = [0.0, 0]  # sum and count of the input's noise score at this layer's resolution

    def add_input_noise(self, batch: torch.Tensor, maps: torch.Tensor, min_size: int) -> None:
        score = input_noise(batch, tuple(maps.shape[-2:]), min_size)
        if score is not None and maps.shape[0] == batch.shape[0]:
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
    skip = set(flagged["nonfinite"]) | set(flagged["dead"]) | set(flagged["uniform"])
    keep = np.array([i not in skip for i in range(summary.channels)], dtype=bool)
    values = summary.noise[keep]
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


def _finish(layer: _Layer, t: Thresholds) -> LayerDiagnosis:
    s = layer.stats.result()
    noise_judged = layer.stride is None or layer.stride >= t.noisy_min_stride
    seen = np.isfinite(s.min)
    rectified = layer.rectified if layer.rectified is not None else bool(seen.any() and (s.min[seen] >= 0).all())
    v = judge(s, t, layer.bounds, dead=rectified, noisy=noise_judged)
    finite = s.values - s.nan - s.inf
    weight = finite.sum()
    scale = float(np.sqrt(np.nansum(finite * s.rms**2) / weight)) if weight else math.nan
    inactive = float(np.nansum(finite * s.inactive) / weight) if weight else math.nan
    return LayerDiagnosis(
        name=layer.info.name, module_type=layer.info.module_type, shape=layer.shape, layout=layer.layout,
        judgement=v, scale=scale, effective_rank=s.effective_rank, noise=_layer_noise(s, v.flagged),
        inactive=inactive, channels_summary=s, notes=layer.notes, bounds=layer.bounds,
        input_noise=layer.input_noise[0] / layer.input_noise[1] if layer.input_noise[1] else None,
        rectified=rectified, stride=layer.stride,
    )


def diagnose(
    model: Any,
    inputs: Any,
    layers: LayerSelector = None,
    *,
    thresholds: Union[Thresholds, Mapping[str, float], None] = None,
    preprocessing: Any = None,
    batch_size: int = 32,
    layouts: Optional[Mapping[str, str]] = None,
    channel_order: bool = True,
) -> Diagnosis:
    """Judge every selected layer of ``model`` on ``inputs`` and check the inputs themselves.

    ``model``: an ``nn.Module``, a spec (``"builtin:digits"``, ``"torchvision:resnet18"``) or a
    ``LoadedModel``; its own (native) preprocessing gives the expected input range and size, and
    an overridden one (``with_preprocessing``, or ``preprocessing=``, which image inputs then go
    through) is compared with it (for a bare module, whose preprocessing is only assumed,
    ``preprocessing=`` is the expected one). ``inputs``: anything :class:`~layerscope.io.feed.Feed`
    takes: a tensor (N, C, H, W), image paths / folders / PIL images, :class:`~layerscope.Args`, or
    an iterable of batches (a whole dataset is streamed batch by batch; statistics are merged
    exactly), or a ``Feed`` made with loading options (``strict``, ``recursive``, ``max_pixels``).
    ``layers``: as :func:`~layerscope.capturing.select_layers` (default: every convolution).
    ``thresholds``: a :class:`Thresholds` or a mapping of overrides. ``layouts`` maps a layer name to
    a layout (``"NHWC"``, ``"tokens"`` ...) when it cannot be inferred. ``channel_order=False`` skips
    the extra forward pass of the BGR/RGB check (which needs a trained classifier).
    """
    Feed.of(inputs).check()  # a missing file fails before any model is built or downloaded
    loaded = resolve_model(model, preprocessing=preprocessing)
    t = thresholds if isinstance(thresholds, Thresholds) else Thresholds().with_overrides(thresholds)
    own, used, certain = preprocessings(loaded)
    expected = own if certain or used is None else used
    feed = Feed.of(inputs, loaded.preprocessing, batch_size)
    floor = t.constant_std / min(expected.std) if expected is not None else t.constant_std
    run = _Stream(loaded.module, layers, layouts or {}, t, InputStats(t.grayscale_corr, floor, t.input_noise),
                  ClassifierOutputs(loaded.classes))
    run.consume(feed)
    layer_results = [_finish(layer, t) for layer in run.state.values() if layer is not None]
    notes = run.notes
    confidence = _channel_order(loaded, run.kept, t) if channel_order else None
    notes += [note for note in [channel_order_note(confidence, t)] if note]
    raw = [(r.path, r.original_mode, r.original_size) for r in feed.images]
    findings = check_inputs(run.input_stats, own, t, used=used, certain=certain, raw_images=raw or None,
                            confidence=confidence)
    notes += skipped_note(feed.skipped, len(raw) or feed.count) + first_nonfinite(layer_results)
    judged = tendency(layer_results, t, run.input_stats, run.outputs)
    return Diagnosis(loaded.spec, feed.count, findings, layer_results, judged, t,
                     notes, preprocessing=loaded.preprocessing.to_dict(),
                     native_preprocessing=loaded.native_preprocessing.to_dict(), weights=loaded.weights,
                     checkpoint=checkpoint_of(loaded), skipped=list(feed.skipped),
                     predictions=run.outputs.predictions)


class _Stream:
    """Runs the batches through the model once, feeding each layer's accumulator and the input checks."""

    def __init__(self, module: nn.Module, layers: LayerSelector, layouts, t: Thresholds, input_stats: InputStats,
                 outputs: ClassifierOutputs):
        self.module, self.layouts, self.t, self.input_stats, self.outputs = module, layouts, t, input_stats, outputs
        self.names = select_layers(module, layers)
        self.modules = dict(module.named_modules())
        self.state: dict[str, Optional[_Layer]] = {}
        self.notes: list[str] = []
        self.kept: list[torch.Tensor] = []
        self.feed: Optional[Feed] = None

    def consume(self, feed: Feed) -> None:
        self.feed = feed
        with Recorder(self.module, self.names) as rec:
            for batch in feed:
                self.batch(rec, batch)
        if feed.count == 0:
            raise InputError("No inputs were given to diagnose (an empty tensor or an empty iterable).")

    def batch(self, rec: Recorder, batch: Any) -> None:
        image = image_tensor(batch)
        images = image is not None and image.dim() == 4 and image.is_floating_point()
        if images:
            self.input_stats.update(image)
            if sum(len(b) for b in self.kept) < self.t.channel_order_inputs:
                self.kept.append(image)
        acts = rec(batch)
        self.outputs.update(acts.output, self.feed.sources[self.outputs.count:])
        scored = ~self.input_stats.constant_inputs(image) if images else None
        size = tuple(image.shape[-2:]) if image is not None and image.dim() >= 3 else None
        for name, tensor in acts.items():
            _update(self, name, tensor, acts.info[name], image, size, scored)


def _channel_order(loaded, kept: list[torch.Tensor], t: Thresholds) -> Optional[tuple[float, float, int]]:
    """The BGR/RGB check: a trained classifier's confidence on the inputs as given and channel-swapped."""
    sample = first_inputs(kept, t.channel_order_inputs)
    if sample is None or sample.dim() != 4 or sample.shape[1] != 3:
        return None
    device, dtype = model_device(loaded.module)
    prep = loaded.preprocessing
    with ModelState(loaded.module) as state, state.forward(), torch.inference_mode(False), torch.no_grad():
        return swap_confidence(loaded.module, sample.to(device=device, dtype=dtype or sample.dtype), prep.mean, prep.std)


def first_inputs(batches: list[torch.Tensor], limit: int) -> Optional[torch.Tensor]:
    """The first ``limit`` inputs of the kept batches with the first batch's shape, as one tensor."""
    if not batches or limit <= 0:
        return None
    shape = batches[0].shape[1:]
    return torch.cat([b for b in batches if b.shape[1:] == shape])[:limit]


def _as_dict(preprocessing: Any) -> Optional[dict]:
    return preprocessing.to_dict() if hasattr(preprocessing, "to_dict") else None


def _update(run: _Stream, name: str, tensor: torch.Tensor, info, image, size, scored) -> None:
    state, notes = run.state, run.notes
    if name in state and state[name] is None:
        return
    if not tensor.is_floating_point() or tensor.dim() < 2:
        if name not in state:
            notes.append(f"{name}: not diagnosed (a {tensor.dtype} tensor of shape {tuple(tensor.shape)}).")
            state[name] = None
        return
    try:
        maps, layout, layout_notes = _maps(tensor, info.module_type, size, run.layouts.get(name))
    except LayoutError as err:
        notes.append(f"{name}: not diagnosed: {err}")
        state[name] = None
        return
    if name not in state:
        stride = size[0] / maps.shape[-2] if size and maps.shape[-2] > 1 else None
        state[name] = _Layer(info, tuple(tensor.shape[1:]), run.modules.get(info.module), maps, layout, layout_notes,
                             run.t, rectified(run.module, info.module), stride)
    same = scored is not None and maps.shape[0] == scored.shape[0]
    state[name].stats.update(maps, scored.to(maps.device) if same else None)
    if image is not None and image.dim() == 4:
        state[name].add_input_noise(image, maps, run.t.min_noise_size)
