"""Layer tensor to maps, or a skip with its reason: the one adapter every verb uses.

>>> import torch
>>> reader = LayerMaps()
>>> tuple(reader.maps("conv", torch.zeros(2, 8, 5, 5), {"module_type": "Conv2d"}, (32, 32)).maps.shape)
(2, 8, 5, 5)
>>> reader.maps("blocks.0.attn.q_norm", torch.zeros(1, 12, 197, 64), {"module_type": "LayerNorm"}, (224, 224))
>>> list(reader.rows), list(reader.skipped)
(['conv'], ['blocks.0.attn.q_norm'])

A layer may have a transform (``transforms={layer: callable}``, from the
:class:`~layerscope.run.Subject`): a callable taking the layer's maps (N, C, H, W) to (N, K, H, W),
such as a trained :class:`~layerscope.dictionary.Dictionary` (its latents per position). The layer
keeps its name; its row says ``"unit"`` (``"latent"``) and what the transform is (``"transform"``:
the callable's ``describe()``), and its ``channels`` are the K outputs, which every verb then reads
like channels:

>>> double = LayerMaps(transforms={"conv": lambda m: torch.cat([m, -m], 1).relu()})
>>> tuple(double.maps("conv", torch.ones(1, 3, 4, 4), {"module_type": "Conv2d"}, None).maps.shape)
(1, 6, 4, 4)
>>> double.rows["conv"]["channels"], double.rows["conv"]["unit"]
(6, 'transformed channel')

A layer is read with its layout (given, or inferred by :func:`~layerscope.core.layout.to_maps`)
and, for a token model, with the model's own prefix tokens and patch grid (the ``tokens`` of the
record, which :meth:`Activations.describe <layerscope.capturing.Activations.describe>` gives; kept
with the layer's row for later calls);
attention internals (heads x tokens x features) are refused with advice; a layer whose tensor
cannot be read as maps is skipped once, with the reason, and never tried again in the run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping, Optional

import torch

from ..core.layout import Maps, TokenGeometry, to_maps
from ..errors import InputError, LayoutError

__all__ = ["LayerMaps", "attention_internal", "Transform", "transformed", "describe_transform"]

Transform = Callable[[torch.Tensor], torch.Tensor]  # maps (N, C, H, W) -> (N, K, H, W)


class LayerMaps:
    """The layers met so far in a run: a metadata row each (``rows``), or the reason it was skipped (``skipped``)."""

    def __init__(self, layouts: Optional[Mapping[str, str]] = None,
                 transforms: Optional[Mapping[str, Transform]] = None) -> None:
        self.layouts = dict(layouts or {})
        self.transforms = dict(transforms or {})
        self.rows: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}

    def maps(self, name: str, tensor: torch.Tensor, record: Mapping[str, Any], input_size: Any) -> Optional[Maps]:
        """The :class:`~layerscope.core.layout.Maps` of layer ``name``; None when it is (now or before) skipped.

        ``record``: the layer's metadata (``Activations.describe(name)``: at least ``module_type``; its
        ``tokens``, the model's token geometry, when the model has one).
        """
        if name in self.skipped:
            return None
        row = self.rows.get(name)
        layout = row["layout"] if row is not None else self.layouts.get(name)
        why = attention_internal(name, record["module_type"], tensor) if layout is None else None
        if why is not None:
            self.skipped[name] = why
            return None
        geometry = record.get("tokens") or (row or {}).get("tokens")
        tokens = TokenGeometry.from_dict(geometry) if geometry and tensor.dim() == 3 else None
        try:
            maps = to_maps(tensor, layout=layout, input_size=input_size, module_type=record["module_type"],
                           tokens=tokens)
        except LayoutError as err:
            self.skipped[name] = str(err)
            return None
        transform = self.transforms.get(name)
        if transform is not None:
            maps = replace(maps, maps=transformed(name, transform, maps.maps), prefix=None, extra_tokens=0,
                           prefix_names=())
        if row is None:
            self.rows[name] = {**record, "shape": list(tensor.shape[1:]), "channels": int(maps.maps.shape[1]),
                               "layout": maps.layout, "notes": maps.notes}
            if transform is not None:
                self.rows[name].update(describe_transform(transform))
            if maps.tokens is not None:
                self.rows[name]["tokens"] = maps.tokens.to_dict()
            self.added(name, self.rows[name])
        return maps

    def added(self, name: str, row: dict[str, Any]) -> None:
        """Called once per new layer with its row (a verb may add its own fields, such as a file name)."""


def attention_internal(name: str, module_type: str, tensor: torch.Tensor) -> Optional[str]:
    """Why a tensor is an attention internal (heads x tokens x dim, or tokens x tokens), not a map; else None.

    >>> attention_internal("blocks.0.attn.q_norm", "LayerNorm", torch.zeros(1, 12, 197, 64)) is not None
    True
    >>> attention_internal("layer1.0.conv1", "Conv2d", torch.zeros(1, 64, 56, 56)) is None
    True
    """
    words = f"{name} {module_type}".lower()
    if tensor.dim() != 4 or "conv" in module_type.lower() or not any(w in words for w in ("attn", "attention", "qkv")):
        return None
    heads, tokens, width = tensor.shape[1:]
    return (f"{name} is an attention internal of shape {heads}x{tokens}x{width} (heads x tokens x features, or "
            f"attention weights), not a spatial map: a picture of it would look like a map and mean nothing. Show "
            f"the block output instead (its parent, e.g. {name.rsplit('.', 1)[0]}), or pass --layout {name}=NCHW "
            f"if it really is one.")



def transformed(name: str, transform: Transform, maps: torch.Tensor) -> torch.Tensor:
    """``transform(maps)`` of layer ``name``, checked: (N, C, H, W) in, (N, K, H, W) out."""
    out = transform(maps)
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != maps.shape[0] or out.shape[2:] != maps.shape[2:]:
        raise InputError(f"The transform of layer {name!r} took maps of shape {tuple(maps.shape)} and gave "
                         f"{tuple(getattr(out, 'shape', ()))}; a layer transform maps (N, C, H, W) to (N, K, H, W).")
    return out


def describe_transform(transform: Transform) -> dict[str, Any]:
    """What a layer's metadata says about its transform: the callable's ``describe()`` (a dictionary: kind, latents,
    fingerprint ...; ``unit`` what its outputs are), else its name; ``unit`` defaults to "transformed channel"."""
    described = getattr(transform, "describe", None)
    found = dict(described()) if callable(described) else {"transform": getattr(transform, "__name__", type(transform).__name__)}
    found.setdefault("unit", "transformed channel")
    return {"unit": found["unit"], "transform": found}
