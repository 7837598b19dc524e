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

from typing import Any, Optional, Union

import torch
from torch import nn

from ..capturing import Recorder, select_layers
from ..capturing.select import LayerSelector
from ..diagnosis import diagnose
from ..errors import InputError
from ..io.feed import Feed
from ..io.models import LoadedModel
from ..io.resolve import resolve_model
from ..render import RenderOptions, render_grids
from ..run.maps import LayerMaps
from ..stats import Histogram
from .entry import NUMBERS, LayerLog, LogEntry
from .options import BINS, DEFAULT_RENDER, MonitorOptions
from .sinks import Sink, as_sinks

__all__ = ["Monitor", "MonitorOptions", "DEFAULT_OPTIONS", "BINS"]

DEFAULT_OPTIONS = DEFAULT_RENDER  # how grids are drawn unless MonitorOptions.render says otherwise


class Monitor:
    """Logs ``layers`` of ``model`` on a fixed probe batch every ``every`` steps, to one or more sinks.

    Call :meth:`step` once per training step (after ``optimizer.step()``); on steps 0, N, 2N ...
    it runs the probe batch ``inputs`` through the model and logs, per layer: the channel grid of
    every probe input (``options``: a :class:`~layerscope.render.RenderOptions`, default 16
    channels on one scale per layer), a histogram of every activation value (``bins`` bins between
    the values' min and max), and the diagnosis numbers of :func:`layerscope.diagnose` (shares of
    dead, uniform, noisy, saturated and non-finite channels, scale, effective rank, noise score)
    and the model's tendency (trained / untrained / unclear). ``layers`` as for
    :func:`~layerscope.capturing.select_layers` (default: what follows each convolution's normalization and
    activation; the tendency needs two or more layers with maps).

    Hooks exist only while a log runs; the model keeps its train/eval mode, parameters, buffers
    (BatchNorm statistics) and gradients, and the random number generators are not drawn from.
    ``sink``: a :class:`~layerscope.train.FolderSink`, a :class:`~layerscope.train.TensorBoardSink`,
    a ``torch.utils.tensorboard.SummaryWriter``, a list of these, or None (only :attr:`history`, the
    numbers of every log). ``inputs``: a tensor batch, or image files / PIL images, preprocessed with
    ``preprocessing`` (a ``LoadedModel`` as ``model`` brings its own; a bare module's is assumed,
    see :mod:`layerscope.io.resolve`).

    ``options``: a :class:`~layerscope.train.options.MonitorOptions` (``every``, ``bins``,
    ``thresholds``, ``render``), any of whose fields may be given as a keyword that replaces it:
    ``Monitor(model, every=10, inputs=x, sink=FolderSink("runs/a"))``. A
    :class:`~layerscope.render.RenderOptions` given as ``options`` is taken as ``render``.
    """

    def __init__(
        self,
        model: Any,
        layers: LayerSelector = None,
        *,
        inputs: Any,
        sink: Any = None,
        options: Union[MonitorOptions, RenderOptions, None] = None,
        preprocessing: Any = None,
        **fields: Any,
    ) -> None:
        self.options = MonitorOptions.of(options, **fields)
        if isinstance(model, LoadedModel):
            model, preprocessing = model.module, preprocessing or model.preprocessing
        if not isinstance(model, nn.Module):
            raise InputError(f"Monitor watches the nn.Module being trained (or its LoadedModel), got "
                             f"{type(model).__name__}.")
        self.model = model
        self.names = select_layers(model, layers)
        self.probe = _probe(model, inputs, preprocessing)
        self.reader = LayerMaps()  # each layer read as maps once; a layer that cannot be is noted, not drawn
        self.sinks: list[Sink] = as_sinks(sink)
        self.history: list[dict] = []
        self._next = 0
        for s in self.sinks:
            s.open(self)

    @property
    def every(self) -> int:
        return self.options.every

    @property
    def bins(self) -> int:
        return self.options.bins

    @property
    def thresholds(self) -> Any:
        return self.options.thresholds

    @property
    def render(self) -> RenderOptions:
        """How the grids are drawn."""
        return self.options.render

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

    def _measure(self, step: int, grids: bool = True) -> LogEntry:
        """The entry of ``step``: the probe's forwards, the numbers and (``grids``) the pictures."""
        with Recorder(self.model, self.names) as rec:
            acts = rec(self.probe)
        diagnosis = diagnose(self.model, self.probe, self.names, thresholds=self.thresholds, channel_order=False,
                             effective_rank=True, batch_size=max(1, len(self.probe)), progress=False)  # one batch: no bar
        judged = {layer.name: layer for layer in diagnosis.layers}
        layers, notes = {}, list(diagnosis.notes)
        for name, tensor in acts.items():
            drawn, why = self._grids(name, tensor, acts.info[name].module_type) if grids else ([], None)
            if why is not None:
                notes.append(f"{name}: no grid ({why})")
            layers[name] = LayerLog(name, drawn, _histogram(tensor, self.bins), _numbers(judged.get(name)),
                                    judged[name].verdict if name in judged else "")
        t = diagnosis.tendency
        return LogEntry(step, layers, t.label, t.score, notes)

    def _grids(self, name: str, tensor: torch.Tensor, module_type: str) -> tuple[list, Optional[str]]:
        """The layer's grids, one per probe input, or ``([], why not)``."""
        if not tensor.is_floating_point():
            return [], f"a {tensor.dtype} tensor"
        if tensor.dim() == 2:
            maps = tensor[:, :, None, None]
        else:
            read = self.reader.maps(name, tensor, {"module_type": module_type}, tuple(self.probe.shape[-2:]))
            if read is None:
                return [], self.reader.skipped[name]
            maps = read.maps
        if maps.shape[-2] == 1:  # vectors and 1-D strips: a few pixels high, to be visible
            maps = maps.expand(-1, -1, 8, -1)
        return render_grids(maps, self.render, layer=name), None


def _probe(model: nn.Module, inputs: Any, preprocessing: Any) -> torch.Tensor:
    """The probe batch as one tensor (N, ...): a tensor as given, images through the model's preprocessing."""
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
