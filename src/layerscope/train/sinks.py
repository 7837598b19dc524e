"""Where a :class:`~layerscope.train.Monitor` writes: TensorBoard, a plain folder of JSON lines and PNGs, or any
``log_metrics(metrics, step)`` (the numbers only).

>>> import tempfile
>>> sink = FolderSink(tempfile.mkdtemp() + "/run")
>>> sink.path.name, sink.metrics.name
('run', 'metrics.jsonl')
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np

from .._version import __version__
from ..core.files import write_atomic
from ..core.names import safe_name
from ..errors import InputError, require
from ..render.colormap import BACKGROUND, palette
from ..render.png import encode_png, save_png
from .entry import NUMBERS, LogEntry

if TYPE_CHECKING:
    from .monitor import Monitor

__all__ = ["Sink", "FolderSink", "TensorBoardSink", "MetricsSink", "as_sinks", "scalars"]

META, METRICS, IMAGES = "monitor.json", "metrics.jsonl", "images"


class Sink:
    """What a sink does: ``open(monitor)`` once, ``write(entry)`` per log, ``flush()``, ``close()``."""

    def open(self, monitor: "Monitor") -> None:
        pass

    def write(self, entry: LogEntry) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.flush()


class FolderSink(Sink):
    """``path/metrics.jsonl`` (one JSON line per log: step, tendency, per-layer numbers and histogram),
    ``path/images/<layer>/step-<NNNNNNNN>.png`` (the probe inputs' grids, one under the other) and
    ``path/monitor.json`` (what is monitored, and how).

    A folder with an earlier run's ``monitor.json`` is replaced only with ``overwrite=True``; a
    folder holding anything else is never written into.
    """

    def __init__(self, path: Union[str, Path], *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.metrics = self.path / METRICS
        self.overwrite = overwrite
        self._palette: Optional[np.ndarray] = None

    def __repr__(self) -> str:
        return f"FolderSink({str(self.path)!r})"

    def open(self, monitor: "Monitor") -> None:
        self._claim()
        meta = {"layerscope_version": __version__, "model": type(monitor.model).__name__, "layers": monitor.names,
                "every": monitor.every, "probe_shape": list(monitor.probe.shape), "render": monitor.render.to_dict(),
                "bins": monitor.bins, "numbers": list(NUMBERS), "files": {"metrics": METRICS, "images": IMAGES}}
        write_atomic((json.dumps(meta, indent=2) + "\n").encode(), self.path / META)
        self._palette = palette(monitor.render.cmap)

    def _claim(self) -> None:
        if not self.path.exists():
            self.path.mkdir(parents=True)
            return
        if not self.path.is_dir():
            raise InputError(f"{self.path} exists and is not a folder; give FolderSink a folder path.")
        entries = list(self.path.iterdir())
        if not entries:
            return
        if not (self.path / META).is_file():
            raise InputError(f"{self.path} holds files that layerscope did not write (no {META}); "
                             "choose a new or empty folder for the monitor.")
        if not self.overwrite:
            raise InputError(f"{self.path} holds an earlier monitor run; pass FolderSink(path, overwrite=True) to "
                             "replace it, or choose another folder.")
        foreign = sorted(e.name for e in entries if e.name not in (META, METRICS, IMAGES))
        if foreign:
            raise InputError(f"{self.path} holds an earlier monitor run and other files ({', '.join(foreign[:3])}); "
                             "layerscope replaces only its own folders: move them or choose another folder.")
        self.metrics.unlink(missing_ok=True)
        if (self.path / IMAGES).is_dir():
            shutil.rmtree(self.path / IMAGES)

    def write(self, entry: LogEntry) -> None:
        for name, layer in entry.layers.items():
            if layer.grids:
                save_png(entry.stacked(name), self.path / IMAGES / safe_name(name, "layer") / f"step-{entry.step:08d}.png",
                         palette=self._palette)
        line = (json.dumps(entry.to_dict(), allow_nan=False) + "\n").encode("utf-8")
        fd = os.open(self.metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:  # one O_APPEND write of the whole line (looped only if the system writes less)
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


class TensorBoardSink(Sink):
    """TensorBoard through ``torch.utils.tensorboard.SummaryWriter`` (extra ``layerscope[tensorboard]``).

    Per layer, tags under ``prefix/<layer>/``: ``maps`` (``add_images``: one grid per probe input),
    ``activations`` (a histogram), and one scalar per number (``dead``, ``uniform``, ``noisy``,
    ``saturated``, ``nonfinite``, ``scale``, ``effective_rank``, ``noise``); ``prefix/tendency_score``
    and the text ``prefix/tendency``. ``log_dir`` makes a writer (closed by :meth:`close`);
    ``writer`` uses yours (only flushed).
    """

    def __init__(self, log_dir: Union[str, Path, None] = None, *, writer: Any = None, prefix: str = "layerscope") -> None:
        if (log_dir is None) == (writer is None):
            raise InputError("Give TensorBoardSink a log_dir or a writer=SummaryWriter(...), one of the two.")
        if writer is None:
            require("tensorboard", "tensorboard", "Logging to TensorBoard")
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(log_dir))
        self.writer, self.owned, self.prefix = writer, log_dir is not None, prefix.strip("/")

    def __repr__(self) -> str:
        return f"TensorBoardSink({self.writer.log_dir!r})"

    def write(self, entry: LogEntry) -> None:
        w, step = self.writer, entry.step
        for name, layer in entry.layers.items():
            tag = f"{self.prefix}/{name}"
            if layer.grids:
                self._image(f"{tag}/maps", layer.grids, step)
            h = layer.histogram
            counts, edges = h.counts[0], h.edges[0]
            centres = (edges[:-1] + edges[1:]) / 2
            total = int(counts.sum())
            if total:
                w.add_histogram_raw(f"{tag}/activations", min=float(edges[0]), max=float(edges[-1]), num=total,
                                    sum=float((counts * centres).sum()), sum_squares=float((counts * centres**2).sum()),
                                    bucket_limits=edges[1:].tolist(), bucket_counts=counts.tolist(), global_step=step)
        for tag, value in scalars(entry, self.prefix).items():
            w.add_scalar(tag, value, step)
        w.add_text(f"{self.prefix}/tendency", entry.tendency, step)

    def _image(self, tag: str, grids: list, step: int) -> None:
        """The probe inputs' grids side by side, as ``add_images`` tiles them (8 to a row), in one palette PNG:
        ``add_images`` would re-encode them as RGB with PIL, several times slower (most of a log's time)."""
        indices, table = _tiled(grids), grids[0].palette
        file_writer = getattr(self.writer, "_get_file_writer", None)
        if file_writer is None or not type(self.writer).__module__.startswith("torch."):  # tensorboardX ...: its own
            self.writer.add_image(tag, table[indices], step, dataformats="HWC")
            return
        from tensorboard.compat.proto.summary_pb2 import Summary

        image = Summary.Image(height=indices.shape[0], width=indices.shape[1], colorspace=3,
                              encoded_image_string=encode_png(indices, palette=table))
        file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()
        if self.owned:
            self.writer.close()


class MetricsSink(Sink):
    """The numbers only, through ``log_metrics(metrics, step)``: a Lightning logger's (CSV, MLflow, W&B ...) or any
    function of that form; ``metrics`` is :func:`scalars` of each log.

    >>> from layerscope.stats import Histogram
    >>> from .entry import LayerLog
    >>> rows = []
    >>> sink = MetricsSink(lambda metrics, step: rows.append((step, metrics)))
    >>> layer = LayerLog("conv1", [], Histogram(1, [0.0, 1.0]).result(), {"dead": 0.25, "scale": None})
    >>> sink.write(LogEntry(10, {"conv1": layer}, "unclear", None))
    >>> rows
    [(10, {'layerscope/conv1/dead': 0.25})]
    """

    def __init__(self, log_metrics: Callable[[dict[str, float], int], Any], *, prefix: str = "layerscope") -> None:
        if not callable(log_metrics):
            raise InputError(f"MetricsSink takes a function log_metrics(metrics, step), got {type(log_metrics).__name__}; "
                             "e.g. MetricsSink(logger.log_metrics).")
        self.log_metrics, self.prefix = log_metrics, prefix.strip("/")

    def __repr__(self) -> str:
        return f"MetricsSink({getattr(self.log_metrics, '__qualname__', self.log_metrics)!s})"

    def write(self, entry: LogEntry) -> None:
        self.log_metrics(scalars(entry, self.prefix), entry.step)


def scalars(entry: LogEntry, prefix: str = "layerscope") -> dict[str, float]:
    """The finite numbers of a log by tag: ``prefix/<layer>/<number>`` and ``prefix/tendency_score``.

    >>> from layerscope.stats import Histogram
    >>> from .entry import LayerLog
    >>> layer = LayerLog("conv1", [], Histogram(1, [0.0, 1.0]).result(), {"dead": 0.0, "noise": float("nan")})
    >>> scalars(LogEntry(10, {"conv1": layer}, "trained", 0.6), prefix="run")
    {'run/conv1/dead': 0.0, 'run/tendency_score': 0.6}
    """
    out = {f"{prefix}/{name}/{key}": float(value) for name, layer in entry.layers.items()
           for key, value in layer.numbers.items() if value is not None and np.isfinite(value)}
    if entry.tendency_score is not None and np.isfinite(entry.tendency_score):
        out[f"{prefix}/tendency_score"] = float(entry.tendency_score)
    return out


def _tiled(grids: list, columns: int = 8) -> np.ndarray:
    """The palette indices of one layer's grids tiled ``columns`` to a row, each padded with the background at the
    bottom and right to the largest (an input whose colorbar numbers do not fit has no colorbar: a shorter grid)."""
    height, width = (max(g.indices.shape[axis] for g in grids) for axis in (0, 1))
    rows = -(-len(grids) // columns)
    out = np.full((rows * height, min(len(grids), columns) * width), BACKGROUND, np.uint8)
    for k, grid in enumerate(grids):
        top, left = (k // columns) * height, (k % columns) * width
        out[top : top + grid.indices.shape[0], left : left + grid.indices.shape[1]] = grid.indices
    return out


def as_sinks(sink: Any) -> list[Sink]:
    """``sink`` (a Sink, a SummaryWriter, a list of these, or None) as a list of sinks."""
    if sink is None:
        return []
    items = list(sink) if isinstance(sink, (list, tuple)) else [sink]
    sinks = []
    for item in items:
        if isinstance(item, Sink):
            sinks.append(item)
        elif hasattr(item, "add_images") and hasattr(item, "add_scalar"):  # a SummaryWriter
            sinks.append(TensorBoardSink(writer=item))
        else:
            raise InputError(f"sink must be a FolderSink, a TensorBoardSink, a SummaryWriter or a list of them, "
                             f"got {type(item).__name__}; e.g. sink=FolderSink('runs/exp1').")
    return sinks
