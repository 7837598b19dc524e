"""Streaming per-channel statistics: small accumulators that merge exactly, whatever the batches.

>>> import torch
>>> from layerscope.stats import Moments
>>> x = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]])  # (N, C): 3 inputs, 2 channels
>>> a, b = Moments(2).update(x[:2]), Moments(2).update(x[2:])
>>> a.merge(Moments.from_state(b.state_dict())).result().mean.tolist()
[2.0, 30.0]

Every accumulator takes batches ``(N, C, ...)`` (channels on dim 1, the other dims pooled) and
has the same protocol:

- ``update(x)`` adds a batch and returns self; ``merge(other)`` folds in an accumulator of the
  same kind over other data (it refuses, with :class:`~layerscope.errors.InputError`, one of a
  different channel count or different bin edges) and returns self;
- ``result()`` gives numpy arrays (or a small dataclass of them) on the CPU;
- ``state_dict()`` / ``from_state(state)`` save and rebuild the state, a flat dict of tensors
  that ``safetensors`` can write (a scan checkpoints and resumes through them); ``to(device)``
  moves it (a state rebuilt on the CPU otherwise stays there).

State is float64 (int64 for pure counts), on the device of the first batch, computed with
batched tensor ops (no Python loop over channels). The accumulators:

- :class:`Moments`: count, mean and M2 of the finite values (Chan et al.'s pairwise merge),
  and the NaN / +Inf / -Inf counts;
- :class:`Extrema`: min and max of the finite values;
- :class:`Covariance`: the C x C covariance of the channel vectors (for the effective rank);
- :class:`Histogram`: counts in bins between edges fixed before the data, with under- and
  overflow, NaN apart; merges add counts, so they are exact;
- :class:`Activity`: values above a threshold, and inputs with at least one, per channel;
- :class:`TopK` (:mod:`.topk`): the k inputs that excite each channel most (by the map's max or
  mean) and where, ranked by (score descending, global input index ascending), so merges are exact;
- :class:`ChannelStats` (:mod:`.channels`): what the diagnosis needs about a layer, built from
  the above and the map measurements of :mod:`.maps` (noise score, spatial variance, peaks);
- :class:`ResponseStats` (:mod:`.responses`): what the dataset scan keeps about a layer, fed from
  one batched reduction per batch (:mod:`._reduce`).

The base class and its contract are in :mod:`._base`. :func:`percentiles` (:mod:`.quantile`)
is the one percentile implementation of layerscope (render's robust ranges and PCA use it).
"""

from .activity import Activity, ActivityResult
from .channels import ChannelStats, ChannelSummary
from .covariance import Covariance, CovarianceResult
from .histogram import Histogram, HistogramResult
from .maps import effective_rank, noise_score, peak_positions, spatial_variance, white_noise_share
from .moments import Extrema, ExtremaResult, Moments, MomentsResult
from .quantile import percentiles
from .responses import PEAK_EDGES, ResponseStats, ResponseSummary
from .topk import TopK, TopKResult

__all__ = [
    "Moments",
    "MomentsResult",
    "Extrema",
    "ExtremaResult",
    "Covariance",
    "CovarianceResult",
    "Histogram",
    "HistogramResult",
    "Activity",
    "ActivityResult",
    "TopK",
    "TopKResult",
    "ChannelStats",
    "ChannelSummary",
    "ResponseStats",
    "ResponseSummary",
    "PEAK_EDGES",
    "noise_score",
    "spatial_variance",
    "peak_positions",
    "effective_rank",
    "white_noise_share",
    "percentiles",
]
