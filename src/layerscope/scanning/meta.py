"""The identity of a scan, in its metadata: which model (spec and a hash of its weights), preprocessing,
layers, data, top-k size, histogram edges; two states continue or merge only when these agree.

>>> import torch.nn as nn
>>> a, b = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 3)
>>> weights_fingerprint(a) == weights_fingerprint(a), weights_fingerprint(a) == weights_fingerprint(b)
(True, False)
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional

import torch

from .._version import __version__
from ..io.checkpoints import checkpoint_of
from ..io.shard import Shard
from .options import ScanOptions

__all__ = ["weights_fingerprint", "model_meta", "identity"]


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A hash of every parameter and buffer (names, dtypes, shapes and bytes): equal only for the same weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        if not isinstance(tensor, torch.Tensor):
            continue
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()[:32]


def model_meta(loaded: Any) -> dict:
    """Spec, module type, weights, checkpoint and weights fingerprint of a :class:`~layerscope.LoadedModel`."""
    return {
        "spec": loaded.spec, "module": type(loaded.module).__name__, "weights": loaded.weights,
        "checkpoint": checkpoint_of(loaded), "fingerprint": weights_fingerprint(loaded.module),
    }


def identity(loaded: Any, source: Any, selected: list, options: ScanOptions, batch_size: int, shard: Shard) -> dict:
    """The metadata a fresh state starts with (the layers' shapes are added after the first batch)."""
    preprocessing: Optional[Any] = loaded.preprocessing
    return {
        "model": model_meta(loaded),
        "selected": list(selected),
        "preprocessing": preprocessing.to_dict() if preprocessing is not None else None,
        "data": source.describe(),
        "top_k": options.k,
        "edges": [float(e) for e in options.bin_edges],
        "active": float(options.active),
        "batch_size": batch_size,
        "shards": [[shard.index, shard.count]],
        "layerscope": __version__,
        "complete": False,
        "done": {"batches": 0, "positions": 0},
        "inputs": 0,
        "skipped": [],
        "sources": {},
        "notes": [],
        "dropped": [],
    }
