"""Compare two models (or checkpoints, or one model on two input sets) layer by layer.

>>> import layerscope as ls
>>> from layerscope.zoo import sample_inputs
>>> from layerscope.zoo.digits import to_tensor
>>> digits = to_tensor(sample_inputs("digits")[0])  # 30 held-out digits
>>> result = ls.compare("builtin:digits", "builtin:digits:untrained", digits, layers=["conv1", "conv2", "fc3"])
>>> [p.layer_a for p in result.ranking()], result["conv2"].match.a.shape
(['fc3', 'conv2', 'conv1'], (32,))

Per layer pair: linear CKA from debiased HSIC of centred features, summed over blocks of inputs
whatever the batches (:mod:`.cka`), the cosine similarity and relative L2 distance of the
activations, and the channels matched by correlation (:mod:`.match`), drawn side by side on one
scale (:meth:`ChannelMatch.grids`).
Every layer of one model is also compared with every layer of the other: the heat map
(:meth:`Comparison.heatmap`). How: :class:`CompareOptions`; the models: each a :class:`~layerscope.run.Subject` (or anything it resolves).
"""

from .api import compare
from .cka import HSICSums, gram, linear_cka
from .match import ChannelCorrelation, ChannelMatch, match_channels
from .options import CompareOptions
from .result import Comparison, LayerComparison

__all__ = [
    "compare",
    "CompareOptions",
    "Comparison",
    "LayerComparison",
    "ChannelMatch",
    "ChannelCorrelation",
    "HSICSums",
    "linear_cka",
    "gram",
    "match_channels",
]
