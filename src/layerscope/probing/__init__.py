"""Linear probes per layer: how well a property is linearly decodable from each layer's pooled
activations, and each channel's class selectivity.

:func:`~layerscope.probing.api.probe` collects the pooled channels of every chosen layer in one run
(:mod:`~layerscope.probing.features`), fits and scores the probes (:mod:`~layerscope.probing.fit`) and
returns a :class:`~layerscope.probing.result.ProbeResult` (table, picture, JSON).
"""

from .api import probe
from .features import Collected, collect
from .fit import chance_level, cross_validate, interval, selectivity
from .result import LayerProbe, ProbeResult

__all__ = ["probe", "ProbeResult", "LayerProbe", "Collected", "collect", "cross_validate", "interval",
           "selectivity", "chance_level"]
