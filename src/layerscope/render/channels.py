"""Which channels a grid shows, and in what order: by index, or ranked by a per-channel score.

>>> import torch
>>> maps = torch.zeros(3, 2, 2)
>>> maps[1] += 5.0
>>> maps[2, 0, 0] = 9.0
>>> pick_channels(maps, "mean").tolist(), pick_channels(maps, "max", 1).tolist()
([1, 2, 0], [2])
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..errors import InputError

__all__ = ["ORDERS", "ORDER_NAMES", "channel_scores", "pick_channels", "check_max_channels", "check_channels",
           "selection_text"]

ORDERS = ("index", "mean", "max", "std", "active")
ORDER_NAMES = {  # what each order ranks by, as captions say it
    "index": "index order", "mean": "mean activation", "max": "max activation", "std": "spatial std",
    "active": "fraction active (> 0)",
}


def selection_text(shown: int, total: int, order: str, explicit: bool = False) -> str:
    """Which channels a grid shows and why, for captions.

    >>> selection_text(64, 240, "mean"), selection_text(64, 240, "index"), selection_text(8, 8, "index")
    ('64 of 240 channels, ranked by mean activation', 'channels 0-63 of 240 (index order)', 'all 8 channels')
    >>> selection_text(2, 240, "std", explicit=True)
    '2 of 240 channels, as chosen'
    """
    if explicit:
        return f"{shown} of {total} channels, as chosen"
    if order == "index":
        return f"all {total} channels" if shown >= total else f"channels 0-{shown - 1} of {total} (index order)"
    head = f"all {total} channels" if shown >= total else f"{shown} of {total} channels"
    return f"{head}, ranked by {ORDER_NAMES[order]}"


def channel_scores(maps: torch.Tensor, order: str) -> torch.Tensor:
    """Score of every map of ``(..., C, H, W)``: its mean, max, std or fraction of values > 0.

    NaN / Inf values are left out of the scores; a map with no finite value ranks last.
    """
    if order not in ORDERS or order == "index":
        raise InputError(f"Unknown channel order {order!r}; rank by one of: {', '.join(ORDERS[1:])}.")
    x = maps.flatten(-2)
    x = x if x.dtype in (torch.float32, torch.float64) else x.float()
    finite = None if bool(torch.isfinite(x.sum())) else torch.isfinite(x)
    if order == "max":
        score = x.amax(dim=-1) if finite is None else torch.where(finite, x, -torch.inf).amax(dim=-1)
    elif order == "active":
        score = (x > 0).sum(dim=-1) / x.shape[-1]
    else:
        # every value finite (the usual case): plain means, several times faster than nanmean
        clean = x if finite is None else torch.where(finite, x, torch.nan)
        average = (lambda t: t.mean(dim=-1, keepdim=True)) if finite is None else (lambda t: t.nanmean(dim=-1, keepdim=True))
        mean = average(clean)
        score = mean.squeeze(-1) if order == "mean" else average((clean - mean).square()).squeeze(-1).sqrt()
    return score.float().nan_to_num(nan=-torch.inf, neginf=-torch.inf)


def check_max_channels(max_channels: Optional[int]) -> Optional[int]:
    """``None`` or ``0`` mean every channel; otherwise a positive int."""
    if max_channels is None:
        return None
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 0:
        raise InputError(
            f"max_channels must be a positive int (or 0 / None for every channel), got {max_channels!r}."
        )
    return max_channels or None


def check_channels(channels: Optional[Sequence[int]]) -> Optional[tuple[int, ...]]:
    """Explicit channel indices as a tuple of ints >= 0 (None stays None).

    >>> check_channels([3, 0])
    (3, 0)
    """
    if channels is None:
        return None
    values = tuple(channels) if isinstance(channels, (list, tuple, range)) else None
    if not values or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in values):
        raise InputError(f"channels must be a non-empty list of channel indices (ints >= 0), got {channels!r}.")
    return values


def pick_channels(
    maps: torch.Tensor, order: str = "index", max_channels: Optional[int] = None,
    channels: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Indices (``(..., k)``, long, on ``maps.device``) of the channels to show, in display order.

    ``order="index"`` keeps channel order; the others rank by :func:`channel_scores`, highest
    first (ties keep channel order). ``max_channels`` keeps the first k. ``channels`` gives the
    indices themselves, in display order (``order`` and ``max_channels`` then do not apply).

    >>> pick_channels(torch.zeros(4, 2, 2), channels=[3, 1]).tolist()
    [3, 1]
    """
    if channels is not None:
        chosen = check_channels(channels)
        if max(chosen) >= maps.shape[-3]:
            raise InputError(
                f"channels {[c for c in chosen if c >= maps.shape[-3]]} are out of range for maps with "
                f"{maps.shape[-3]} channels; use 0..{maps.shape[-3] - 1}."
            )
        return torch.tensor(chosen, device=maps.device).expand(*maps.shape[:-3], len(chosen))
    k = check_max_channels(max_channels)
    channels = maps.shape[-3]
    k = channels if k is None else min(k, channels)
    if order == "index":
        index = torch.arange(k, device=maps.device)
        return index.expand(*maps.shape[:-3], k)
    score = channel_scores(maps, order)
    return torch.sort(score, dim=-1, descending=True, stable=True).indices[..., :k]
