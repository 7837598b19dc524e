"""What feature visualization maximizes: a channel, a neuron, a direction, plus a diversity term.

>>> import torch
>>> maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
>>> channel([1, 2])(maps).tolist()     # batch item i maximizes channel channels[i], mean over positions
[5.5, 21.5]
>>> neuron([0, 0])(maps).tolist()      # the centre position
[3.0, 15.0]

Each objective maps a layer's maps ``(N, C, H, W)`` (tokens and other layouts go through
:func:`layerscope.core.layout.to_maps` first) to one score per batch item: item ``i`` of the batch
optimizes for ``channels[i]`` (many channels at once, as one batch).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..errors import InputError

__all__ = ["channel", "neuron", "direction", "diversity", "OBJECTIVES"]

Objective = Callable[[torch.Tensor], torch.Tensor]


def _index(channels: Sequence[int], maps: torch.Tensor) -> torch.Tensor:
    index = torch.as_tensor(list(channels), device=maps.device)
    if index.numel() != maps.shape[0]:
        raise InputError(f"{index.numel()} channels for a batch of {maps.shape[0]} images; give one per image.")
    if int(index.max()) >= maps.shape[1] or int(index.min()) < 0:
        raise InputError(f"channel {int(index.max())} is out of range: the layer has {maps.shape[1]} channels.")
    return index


def channel(channels: Sequence[int]) -> Objective:
    """Mean activation of ``channels[i]`` over all positions, for batch item ``i``."""

    def score(maps: torch.Tensor) -> torch.Tensor:
        index = _index(channels, maps)
        return maps[torch.arange(maps.shape[0], device=maps.device), index].flatten(1).mean(1)

    return score


def neuron(channels: Sequence[int]) -> Objective:
    """Activation of ``channels[i]`` at the centre position (one spatial neuron), for item ``i``."""

    def score(maps: torch.Tensor) -> torch.Tensor:
        index = _index(channels, maps)
        y, x = maps.shape[-2] // 2, maps.shape[-1] // 2
        return maps[torch.arange(maps.shape[0], device=maps.device), index, y, x]

    return score


def direction(vectors: torch.Tensor) -> Objective:
    """Mean over positions of the dot product of each position's channel vector with ``vectors[i]``."""

    def score(maps: torch.Tensor) -> torch.Tensor:
        v = torch.as_tensor(vectors, dtype=maps.dtype, device=maps.device)
        v = v.expand(maps.shape[0], -1) if v.dim() == 1 else v
        if v.shape != maps.shape[:2]:
            raise InputError(f"direction vectors of shape {tuple(v.shape)} do not fit the layer's {maps.shape[1]} channels.")
        return torch.einsum("nchw,nc->n", maps, v) / (maps.shape[-2] * maps.shape[-1])

    return score


def diversity(maps: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity between the Gram matrices of the batch's items (lower: more diverse).

    Lucid's diversity term: subtracting it pushes the images of one batch apart in style.
    """
    n = maps.shape[0]
    if n < 2:
        return maps.new_zeros(())
    flat = maps.flatten(2)
    grams = torch.einsum("ncp,ndp->ncd", flat, flat).flatten(1)
    grams = torch.nn.functional.normalize(grams, dim=1)
    similarity = grams @ grams.T
    return (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))


OBJECTIVES = {"channel": channel, "neuron": neuron, "direction": direction}
