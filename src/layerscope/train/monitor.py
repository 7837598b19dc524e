"""Watch feature maps while a model trains: every N steps, grids, histograms and the diagnosis of a probe batch.

>>> import torch, torch.nn as nn, tempfile
>>> from layerscope.train import FolderSink
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)).train()
>>> probe = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
>>> sink = FolderSink(tempfile.mkdtemp() + "/run")
>>> with Monitor(model, every=10, inputs=probe, sink=sink) as monitor:
...     for step in range(25):
...         entry = monitor.step()          # after optimizer.step() in a real loop
>>> [e["step"] for e in monitor.history], model.training, len(model[0]._forward_hooks)
([0, 10, 20], True, 0)
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from ..capturing import Recorder, select_layers
from ..capturing.select import LayerSelector
from ..errors import InputError, LayoutError
from ..core.layout import to_maps
from ..render import RenderOptions, render_grids
from ..stats import Histogram
from .entry import NUMBERS, LayerLog, LogEntry
from .sinks import Sink, as_sinks

__all__ = ["Monitor", "DEFAULT_OPTIONS"]

DEFAULT_OPTIONS = RenderOptions(max_channels=16, normalize="layer", scale=2, labels=True)
BINS = 64


class Monitor:
    """Logs ``layers`` of ``model`` on a fixed probe batch every ``every`` steps, to one or more sinks.

    Call :meth:`step` once per training step (after ``optimizer.step()``); on steps 0, N, 2N ...
    it runs the probe batch ``inputs`` through the model and logs, per layer: the channel grid of
    every probe input (``options``: a :class:`~layerscope.render.RenderOptions`, default 16
    channels on one scale per layer), a histogram of every activation value (``bins`` bins between
    the values' min and max), and the diagnosis numbers of :func:`layerscope.diagnose` (shares of
    dead, uniform, noisy, saturated and non-finite channels, scale, effective rank, noise score)
    and the model's tendency (trained / untrained / unclear). ``layers`` as for
    :func:`~layerscope.capturing.select_layers` (default every convolution; the tendency needs two
    or more layers with maps).

    Hooks exist only while a log runs; the model keeps its train/eval mode, parameters, buffers
    (BatchNorm statistics) and gradients, and the random number generators are not drawn from.
    ``sink``: a :class:`~layerscope.train.FolderSink`, a :class:`~layerscope.train.TensorBoardSink`,
    a ``torch.utils.tensorboard.SummaryWriter``, a list of these, or None (only :attr:`history`, the
    numbers of every log). ``inputs``: a tensor batch, or image files / PIL images, preprocessed with
    ``preprocessing`` (a ``LoadedModel`` as ``model`` brings its own; a bare module's is assumed,
    see :mod:`layerscope.io.resolve`).
    """

    def __init__(
        self,
        model: Any,
        layers: LayerSelector = None,
        *,
        every: int = 100,
        inputs: Any,
        sink: Any = None,
        options: Optional[RenderOptions] = None,
        bins: int = BINS,
        thresholds: Union[Mapping[str, float], Any, None] = None,
        preprocessing: Any = None,
    ) -> None:
        from ..io import LoadedModel

        if isinstance(model, LoadedModel):
            model, preprocessing = model.module, preprocessing or model.preprocessing
        if not isinstance(model, nn.Module):
            raise InputError(f"Monitor watches the nn.Module being trained (or its LoadedModel), got "
                             f"{type(model).__name__}.")
        for name, value, low in (("every", every, 1), ("bins", bins, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name} must be an int >= {low}, got {value!r}.")
        self.model, self.every, self.bins, self.thresholds = model, every, bins, thresholds
        self.names = select_layers(model, layers)
        self.probe = _probe(model, inputs, preprocessing)
        self.options = RenderOptions.of(DEFAULT_OPTIONS if options is None else options)
        self.sinks: list[Sink] = as_sinks(sink)
        self.history: list[dict] = []
        self._next = 0
        for s in self.sinks:
            s.open(self)

    def __repr__(self) -> str:
        return f"Monitor({len(self.names)} layers, every={self.every}, {len(self.history)} logs)"

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def step(self, step: Optional[int] = None) -> Optional[LogEntry]:
        """Count one training step (or give its number); logs on multiples of ``every`` and returns the entry."""
        current = self._next if step is None else int(step)
        self._next = current + 1
        return self.log(current) if current % self.every == 0 else None

    def log(self, step: int) -> LogEntry:
        """Log now, whatever the step; returns the :class:`~layerscope.train.entry.LogEntry`."""
        entry = self._measure(int(step))
        for s in self.sinks:
            s.write(entry)
        self.history.append(entry.to_dict())
        return entry

    def flush(self) -> None:
        for s in self.sinks:
            s.flush()

    def close(self) -> None:
        """Flush and close the sinks (a SummaryWriter passed in is flushed, not closed)."""
        for s in self.sinks:
            s.close()

    def _measure(self, step: int) -> LogEntry:
        from ..diagnosis import diagnose

        with Recorder(self.model, self.names) as rec:
            acts = rec(self.probe)
        diagnosis = diagnose(self.model, self.probe, self.names, thresholds=self.thresholds, channel_order=False,
                             batch_size=max(1, len(self.probe)))
        judged = {layer.name: layer for layer in diagnosis.layers}
        layers, notes = {}, list(diagnosis.notes)
        for name, tensor in acts.items():
            try:
                grids = self._grids(name, tensor, acts.info[name].module_type)
            except LayoutError as err:
                notes.append(f"{name}: no grid ({err})")
                grids = []
            layers[name] = LayerLog(name, grids, _histogram(tensor, self.bins), _numbers(judged.get(name)),
                                    judged[name].verdict if name in judged else "")
        t = diagnosis.tendency
        return LogEntry(step, layers, t.label, t.score, notes)

    def _grids(self, name: str, tensor: torch.Tensor, module_type: str) -> list:
        if not tensor.is_floating_point():
            raise LayoutError(f"a {tensor.dtype} tensor")
        maps = tensor[:, :, None, None] if tensor.dim() == 2 else to_maps(
            tensor, input_size=tuple(self.probe.shape[-2:]), module_type=module_type).maps
        if maps.shape[-2] == 1:  # vectors and 1-D strips: a few pixels high, to be visible
            maps = maps.expand(-1, -1, 8, -1)
        return render_grids(maps, self.options, layer=name)


def _probe(model: nn.Module, inputs: Any, preprocessing: Any) -> torch.Tensor:
    """The probe batch as one tensor (N, ...): a tensor as given, images through the model's preprocessing."""
    from ..io.feed import Feed
    from ..io.resolve import resolve_model

    if isinstance(inputs, torch.Tensor):
        probe = inputs
    else:
        probe = Feed(inputs, resolve_model(model, preprocessing=preprocessing).preprocessing, strict=True).one()
    if not isinstance(probe, torch.Tensor) or probe.dim() < 2 or probe.shape[0] < 1:
        raise InputError(f"inputs must be a probe batch (N, C, H, W) or image files, got "
                         f"{tuple(probe.shape) if isinstance(probe, torch.Tensor) else type(probe).__name__}.")
    return probe.detach().clone()


def _histogram(tensor: torch.Tensor, bins: int):
    """A histogram of every value of the layer, bins between the finite min and max (one channel of values)."""
    values = tensor.detach().reshape(-1, 1).to(torch.float64)
    finite = values[torch.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return Histogram(1, torch.linspace(low, high, bins + 1, dtype=torch.float64)).update(values).result()


def _numbers(layer: Any) -> dict[str, Optional[float]]:
    if layer is None:
        return {key: None for key in NUMBERS}
    shares = layer.shares
    return {key: shares.get(key, getattr(layer, key, None)) for key in NUMBERS}
