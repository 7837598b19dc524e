"""The spine: one run that every verb consumes (engine tier, above :mod:`layerscope.capturing` and :mod:`layerscope.io`).

A :class:`~layerscope.run.subject.Subject` (model + preprocessing + layers + layouts + device,
resolved once), :class:`~layerscope.run.options.RunOptions` / :class:`~layerscope.run.options.OutputOptions`,
the loop :class:`~layerscope.run.loop.Run` (Feed + Recorder + device + progress) yielding a
:class:`~layerscope.run.loop.Step` per batch, the layer-to-maps adapter
:class:`~layerscope.run.maps.LayerMaps`, and the one-shot verb :func:`~layerscope.run.once.capture`.
"""

from .once import capture
from .loop import Run, Step
from .maps import LayerMaps
from .options import OutputOptions, RunOptions
from .subject import Subject

__all__ = ["Subject", "Run", "Step", "RunOptions", "OutputOptions", "LayerMaps", "capture"]
