"""The :class:`~layerscope.train.Monitor` as a Lightning callback: grids, histograms and diagnosis numbers of a probe
batch every N optimizer steps, through the trainer's loggers (extra ``layerscope[lightning]``).

>>> import torch
>>> callback = MonitorCallback(torch.zeros(2, 1, 28, 28), ["net.conv1"], every=50)
>>> callback, callback.state_dict()
(MonitorCallback(layers=['net.conv1'], every=50, prefix='layerscope'), {'last_logged': None})

``Trainer(callbacks=[callback], logger=TensorBoardLogger("runs"))`` then logs on the optimizer steps 0, 50,
100 ... (Lightning's ``global_step``); the README has a whole run.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional, Union

from ..capturing.select import LayerSelector
from ..errors import require
from ..render import RenderOptions
from .monitor import Monitor
from .options import MonitorOptions
from .sinks import MetricsSink, Sink, TensorBoardSink, as_sinks

require("lightning", "lightning", "The Lightning callback (layerscope.train.MonitorCallback)")

from lightning.pytorch.callbacks import Callback  # noqa: E402 (after the friendly error of require)
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402

__all__ = ["MonitorCallback"]


class MonitorCallback(Callback):
    """Logs ``layers`` of the LightningModule on the probe batch ``inputs`` every ``every`` optimizer steps.

    What is logged, and the options (``every``, ``bins``, ``thresholds``, ``render``, as keywords or
    ``options=``), are those of :class:`~layerscope.train.Monitor`, which does the work: per layer the
    probe inputs' channel grids, a histogram of the activations and the numbers of
    :func:`layerscope.diagnose`. ``layers`` are named in the LightningModule (``"net.conv1"`` for a
    module kept as ``self.net``); the probe goes through the LightningModule's ``forward``.

    Where: every logger of the trainer, tags ``prefix/<layer>/...`` as :class:`~layerscope.train.TensorBoardSink`'s.
    A ``TensorBoardLogger`` gets the images, histograms and scalars; any other logger (CSV, MLflow, W&B ...) the
    scalars, through its ``log_metrics``. ``sink``: more sinks (a :class:`~layerscope.train.FolderSink` ...),
    written, as the loggers, by the process of global rank 0 only.

    When: on Lightning's ``global_step`` (optimizer steps, so each step is logged once under gradient
    accumulation) 0, ``every``, 2 ``every`` ...; step 0 is the model before training. Under DDP every process
    runs the same probe forwards on the same steps (a model with collective operations in its forward, such
    as SyncBatchNorm, cannot hang) and only global rank 0 draws and writes. The model keeps its mode,
    buffers, gradients and random state, and has no hook between logs. :meth:`state_dict` holds the last
    logged step: a run resumed with ``ckpt_path=`` goes on with the next steps, none logged twice.
    """

    def __init__(
        self,
        inputs: Any,
        layers: LayerSelector = None,
        *,
        sink: Any = None,
        prefix: str = "layerscope",
        options: Union[MonitorOptions, RenderOptions, None] = None,
        preprocessing: Any = None,
        **fields: Any,
    ) -> None:
        self.inputs, self.layers, self.preprocessing = inputs, layers, preprocessing
        self.options = MonitorOptions.of(options, **fields)
        self.sinks: list[Sink] = as_sinks(sink)
        self.prefix = prefix.strip("/")
        self.monitor: Optional[Monitor] = None  # made when fitting starts; its history: the numbers of every log
        self.last_logged: Optional[int] = None

    def __repr__(self) -> str:
        return f"MonitorCallback(layers={self.layers!r}, every={self.options.every}, prefix={self.prefix!r})"

    @property
    def state_key(self) -> str:
        return self._generate_state_key(prefix=self.prefix)

    def state_dict(self) -> dict[str, Any]:
        return {"last_logged": self.last_logged}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_logged = state_dict.get("last_logged")

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        # after configure_model and the move to the device; a checkpoint's state is loaded by on_train_start
        sinks = self._logger_sinks(trainer) + self.sinks if trainer.is_global_zero else []
        if trainer.is_global_zero and not sinks:
            warnings.warn("MonitorCallback has nowhere to write: the trainer has no logger and no sink was given; "
                          "only callback.monitor.history keeps the numbers. Give Trainer a logger, or sink=FolderSink(...).",
                          stacklevel=2)
        self.monitor = Monitor(pl_module, self.layers, inputs=self.inputs, sink=sinks, options=self.options,
                               preprocessing=self.preprocessing)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._maybe_log(trainer)  # step 0, or the step a resumed run starts from

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._maybe_log(trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.monitor is not None:
            self.monitor.flush()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.monitor is not None and stage == "fit":
            self.monitor.close()

    def _maybe_log(self, trainer: Any) -> None:
        """Log ``global_step`` if it is on the schedule and later than the last log: once per optimizer step, however
        many batches it takes, and not again after a resume. The decision uses only what every process shares (the
        step, the restored state): all run the probe or none."""
        step = int(trainer.global_step)
        if self.monitor is None or step % self.options.every or (self.last_logged is not None and step <= self.last_logged):
            return
        self.last_logged = step
        if trainer.is_global_zero:
            self.monitor.log(step)
        else:
            self.monitor._measure(step, grids=False)  # the same forwards; nothing drawn, nothing written

    def _logger_sinks(self, trainer: Any) -> list[Sink]:
        sinks: list[Sink] = []
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                sinks.append(TensorBoardSink(writer=logger.experiment, prefix=self.prefix))
            else:
                sinks.append(MetricsSink(logger.log_metrics, prefix=self.prefix))
        return sinks
