"""Fit a state dict to a module: wrapper prefixes stripped or added, then a strict, all-or-nothing load.

>>> import torch.nn as nn
>>> model = nn.Linear(3, 2)
>>> state = {"model." + k: v.clone() for k, v in nn.Linear(3, 2).state_dict().items()}
>>> apply_state_dict(model, state, source="example")
["stripped the prefix 'model.' from every checkpoint key to fit the model"]

Training wrappers save keys under a prefix: ``module.`` (DataParallel),
``_orig_mod.`` (torch.compile), ``model.`` / ``net.`` (Lightning modules),
``backbone.`` / ``encoder.``. A prefix is changed only when the result fits the
model's keys exactly; otherwise the error names the prefix that nearly fits.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

import torch
import torch.nn as nn

from ..errors import CheckpointError

__all__ = ["apply_state_dict", "fit_keys", "STRIP_PREFIXES"]

STRIP_PREFIXES = ("module.", "_orig_mod.")  # stripped whenever every key has them and the model's keys do not
_SHOW = 5


def _strip_known(state: dict[str, Any], own: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    notes = []
    changed = True
    while changed:
        changed = False
        for prefix in STRIP_PREFIXES:
            if all(k.startswith(prefix) for k in state) and not all(k.startswith(prefix) for k in own):
                state = {k[len(prefix):]: v for k, v in state.items()}
                notes.append(f"stripped the {prefix!r} prefix from every key")
                changed = True
    return state, notes


def _shared_prefixes(keys: Iterable[str]) -> list[str]:
    """Dotted prefixes that every key starts with, shortest first: ``['a.', 'a.b.']``."""
    keys = list(keys)
    if not keys:
        return []
    parts = keys[0].split(".")[:-1]
    found = []
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth]) + "."
        if not all(k.startswith(prefix) for k in keys):
            break
        found.append(prefix)
    return found


def _fits(keys: Iterable[str], own: Mapping[str, Any]) -> bool:
    """Every key is the model's, and the model's keys left over are only BatchNorm counters."""
    keys = set(keys)
    return keys <= own.keys() and all(k.endswith("num_batches_tracked") for k in own.keys() - keys)


def _renamed(keys: Iterable[str], strip: str, add: str) -> dict[str, str]:
    return {k: add + k[len(strip):] for k in keys if k.startswith(strip)}


def _rename_note(strip: str, add: str) -> str:
    if strip and add:
        return f"replaced the prefix {strip!r} with {add!r} in every checkpoint key to fit the model"
    if strip:
        return f"stripped the prefix {strip!r} from every checkpoint key to fit the model"
    return f"added the prefix {add!r} to every checkpoint key to fit the model"


def fit_keys(state: dict[str, Any], own: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``state`` with its keys renamed to fit ``own`` (a model's state dict) when a prefix change does it.

    >>> fit_keys({"net.w": 1}, {"backbone.w": 0})
    ({'backbone.w': 1}, ["replaced the prefix 'net.' with 'backbone.' in every checkpoint key to fit the model"])
    """
    state, notes = _strip_known(state, own)
    if _fits(state, own):
        return state, notes
    for strip in ["", *_shared_prefixes(state)]:
        for add in ["", *_shared_prefixes(own)]:
            names = _renamed(state, strip, add)
            if strip != add and _fits(names.values(), own):
                return {names[k]: v for k, v in state.items()}, notes + [_rename_note(strip, add)]
    return state, notes


def _prefix_hint(keys: list[str], own: Mapping[str, Any]) -> str:
    """A hint naming the prefix under which most of the model's keys hide among foreign ones ('' if none)."""
    firsts = Counter(k.split(".", 1)[0] + "." for k in keys if "." in k)
    best, best_count = "", 0
    for strip in ["", *(p for p, _ in firsts.most_common(3))]:
        for add in ["", *_shared_prefixes(own)]:
            count = sum(name in own for name in _renamed(keys, strip, add).values())
            if (strip or add) and count > best_count:
                best, best_count = (strip, add), count
    wanted = sum(not k.endswith("num_batches_tracked") for k in own)
    if not best or best_count < max(1, wanted // 2):
        return ""
    strip, add = best
    fitting = {k for k, name in _renamed(keys, strip, add).items() if name in own}
    others = [k for k in keys if k not in fitting]
    if strip and add:
        change = f"the prefix {strip!r} is replaced with {add!r}"
    else:
        change = f"the prefix {strip or add!r} is {'removed' if strip else 'added'}"
    return (
        f" Hint: {best_count} of the checkpoint's {len(keys)} keys fit the model once {change}; the other "
        f"{len(others)} ({_listing(others)}) are not the model's. Save only the model's weights, e.g. "
        f"torch.save(lightning_module.model.state_dict(), 'weights.pt'), or drop the other keys."
    )


def _listing(keys: list[str]) -> str:
    more = f", ... ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def apply_state_dict(module: nn.Module, state: dict[str, Any], *, source: str) -> list[str]:
    """Load ``state`` into ``module`` strictly; nothing is changed unless every key and shape fits.

    A misfit raises :class:`~layerscope.errors.CheckpointError` with the counts,
    the first few missing keys, unexpected keys and shape mismatches, and the
    wrapper prefix that nearly fits when there is one.
    """
    own = module.state_dict()
    original = list(state)
    state, notes = fit_keys(state, own)
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and isinstance(state[k], torch.Tensor) and isinstance(own[k], torch.Tensor)
        and state[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{len(items)} {label} ({_listing(items)})"
            for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
            if items
        ]
        hint = _prefix_hint(original, own) if missing or unexpected else ""
        raise CheckpointError(
            f"Checkpoint {source} does not fit the model ({type(module).__name__}): {'; '.join(parts)}. "
            f"Check that the model spec is the architecture the checkpoint was saved from "
            f"(same variant and number of classes).{hint}"
        )
    module.load_state_dict(state, strict=True)
    return notes
