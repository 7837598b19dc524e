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

import contextlib
import math
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..capture import Recorder, model_device, select_layers
from ..capture.api import resolve_model
from ..capture.select import LayerSelector
from ..errors import InputError, LayoutError
from ..stats import ChannelStats, ChannelSummary, noise_score
from .checks import channel_order_note
from .feed import Feed, first_inputs
from .inputs import InputStats, check_inputs, swap_confidence
from .metrics import activation_bounds
from .model import first_nonfinite, tendency
from .provenance import checkpoint_of, preprocessings, skipped_note
from .result import Diagnosis, LayerDiagnosis
from .thresholds import Thresholds
from .verdict import judge

__all__ = ["diagnose"]


@contextlib.contextmanager
def _eval(module: nn.Module) -> Iterator[nn.Module]:
    modes = {m: m.training for m in module.modules()}
    try:
        yield module.eval()
    finally:
        for m, training in modes.items():
            m.training = training


def _maps(tensor: torch.Tensor, module_type: str, input_size, layout: Optional[str]) -> tuple[torch.Tensor, str, list[str]]:
    """(N, C, H, W) maps, layout name, notes. Vectors (N, C) become (N, C, 1, 1)."""
    if tensor.dim() == 2 and layout in (None, "NC", "nc"):
        return tensor[:, :, None, None], "NC", []
    from ..layout import to_maps

    maps = to_maps(tensor, layout=layout, input_size=input_size, module_type=module_type)
    return maps.maps, maps.layout, list(maps.notes)


class _Layer:
    """Per-layer state while streaming: the accumulator and what the first batch said."""

    def __init__(self, info: Any, module: nn.Module, maps: torch.Tensor, layout: str, notes: list[str], t: Thresholds):
        self.info, self.layout, self.notes = info, layout, notes
        self.bounds = activation_bounds(module)
        self.shape = tuple(info.shape[1:])
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
    v = judge(s, t, layer.bounds)
    finite = s.values - s.nan - s.inf
    weight = finite.sum()
    scale = float(np.sqrt(np.nansum(finite * s.rms**2) / weight)) if weight else math.nan
    inactive = float(np.nansum(finite * s.inactive) / weight) if weight else math.nan
    return LayerDiagnosis(
        name=layer.info.name, module_type=layer.info.module_type, shape=layer.shape, layout=layer.layout,
        verdict=v.verdict, reason=v.reason, flagged=v.flagged, shares=v.shares, scale=scale,
        effective_rank=s.effective_rank, noise=_layer_noise(s, v.flagged), inactive=inactive,
        findings=v.findings, channels_summary=s, notes=layer.notes, bounds=layer.bounds,
        input_noise=layer.input_noise[0] / layer.input_noise[1] if layer.input_noise[1] else None,
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
    skipped: Sequence[tuple[str, str]] = (),
) -> Diagnosis:
    """Judge every selected layer of ``model`` on ``inputs`` and check the inputs themselves.

    ``model``: an ``nn.Module``, a spec (``"builtin:digits"``, ``"torchvision:resnet18"``) or a
    ``LoadedModel``; its own (native) preprocessing gives the expected input range and size, and
    an overridden one (``with_preprocessing``, or ``preprocessing=``, which image inputs then go
    through) is compared with it (for a bare module ``preprocessing=`` is the expected one). ``inputs``: a tensor (N, C, H, W), image paths / PIL images, or an iterable of batches
    (a whole dataset is streamed batch by batch; statistics are merged exactly). ``layers``: as
    :func:`~layerscope.capture.select_layers` (default: every convolution). ``thresholds``: a
    :class:`Thresholds` or a mapping of overrides. ``layouts`` maps a layer name to a layout
    (``"NHWC"``, ``"tokens"`` ...) when it cannot be inferred. ``channel_order=False`` skips the
    extra forward pass of the BGR/RGB check (which needs a trained classifier). ``skipped``: images
    the caller could not load, ``(path, reason)``, recorded in the result.
    """
    module, loaded = resolve_model(model)
    t = thresholds if isinstance(thresholds, Thresholds) else Thresholds().with_overrides(thresholds)
    own, used, certain = preprocessings(loaded, preprocessing)
    prep = used if used is not None else own
    expected = own if certain or used is None else used
    names = select_layers(module, layers)
    modules = dict(module.named_modules())
    feed = Feed(inputs, prep, batch_size)
    floor = t.constant_std / min(expected.std) if expected is not None else t.constant_std
    input_stats = InputStats(t.grayscale_corr, floor, t.input_noise)
    state: dict[str, _Layer] = {}
    notes: list[str] = []
    kept: list[torch.Tensor] = []
    count = 0
    with Recorder(module, names) as rec:
        for batch in feed:
            input_stats.update(batch)
            if sum(len(b) for b in kept) < t.channel_order_inputs:
                kept.append(batch)
            acts = rec(batch)
            count += int(batch.shape[0]) if batch.dim() else 0
            scored = ~input_stats.constant_inputs(batch) if batch.dim() == 4 else None
            for name, tensor in acts.items():
                _update(state, notes, name, tensor, acts.info[name], modules, batch, layouts or {}, t, scored)
    if count == 0:
        raise InputError("No inputs were given to diagnose (an empty tensor or an empty iterable).")
    layer_results = [_finish(layer, t) for layer in state.values() if layer is not None]
    confidence = None
    sample = first_inputs(kept, t.channel_order_inputs)
    if channel_order and sample is not None and sample.dim() == 4 and sample.shape[1] == 3:
        device, dtype = model_device(module)
        with _eval(module), torch.no_grad():
            confidence = swap_confidence(module, sample.to(device=device, dtype=dtype or sample.dtype),
                                         getattr(prep, "mean", None), getattr(prep, "std", None))
        notes += [note for note in [channel_order_note(confidence, t)] if note]
    findings = check_inputs(input_stats, own, t, used=used, certain=certain, raw_images=feed.raw_images or None,
                            confidence=confidence)
    skipped = list(skipped) + list(feed.skipped)
    notes += skipped_note(skipped, len(feed.raw_images) or count) + first_nonfinite(layer_results)
    label = getattr(loaded, "spec", None) or type(module).__name__
    native = getattr(loaded, "native_preprocessing", None) or own
    return Diagnosis(label, count, findings, layer_results, tendency(layer_results, t, input_stats), t, notes,
                     preprocessing=_as_dict(prep), native_preprocessing=_as_dict(native),
                     weights=getattr(loaded, "weights", None), checkpoint=checkpoint_of(loaded), skipped=skipped)


def _as_dict(preprocessing: Any) -> Optional[dict]:
    return preprocessing.to_dict() if hasattr(preprocessing, "to_dict") else None


def _update(state, notes, name, tensor, info, modules, batch, layouts, t, scored=None) -> None:
    if name in state and state[name] is None:
        return
    if not tensor.is_floating_point() or tensor.dim() < 2:
        if name not in state:
            notes.append(f"{name}: not diagnosed (a {tensor.dtype} tensor of shape {tuple(tensor.shape)}).")
            state[name] = None
        return
    try:
        maps, layout, layout_notes = _maps(tensor, info.module_type, tuple(batch.shape[-2:]), layouts.get(name))
    except LayoutError as err:
        notes.append(f"{name}: not diagnosed: {err}")
        state[name] = None
        return
    if name not in state:
        state[name] = _Layer(info, modules.get(info.module), maps, layout, layout_notes, t)
    same = scored is not None and maps.shape[0] == scored.shape[0]
    state[name].stats.update(maps, scored.to(maps.device) if same else None)
    state[name].add_input_noise(batch, maps, t.min_noise_size)
