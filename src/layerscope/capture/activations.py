"""Captured activations: an ordered mapping from layer name to tensor, with metadata beside each.

>>> import torch
>>> info = LayerInfo(name="conv", module="conv", module_type="Conv2d", call_index=0,
...                  output_path="", shape=(1, 4, 8, 8), dtype="torch.float32", device="cpu")
>>> acts = Activations({"conv": torch.zeros(1, 4, 8, 8)}, {"conv": info})
>>> list(acts), acts.info["conv"].channels
(['conv'], 4)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import torch

__all__ = ["LayerInfo", "Activations"]


@dataclass(frozen=True)
class LayerInfo:
    """Metadata of one captured tensor.

    ``name`` is the key in :class:`Activations`: the module's dotted name, then
    ``#k`` for its k-th call in one forward (k >= 1), then the path inside a
    structured output (``.0``, ``.logits``). ``protected`` says the value was
    copied because a later op modified the module's output in place.
    """

    name: str
    module: str
    module_type: str
    call_index: int
    output_path: str
    shape: tuple[int, ...]
    dtype: str
    device: str
    protected: bool = False
    skipped: tuple[str, ...] = ()

    @property
    def channels(self) -> Optional[int]:
        """Size of dim 1 for ``N, C, ...`` outputs, of the last dim for ``N, D``; None for scalars."""
        if len(self.shape) >= 3:
            return self.shape[1]
        if len(self.shape) == 2:
            return self.shape[-1]
        return None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["shape"] = list(self.shape)
        data["skipped"] = list(self.skipped)
        data["channels"] = self.channels
        return data


@dataclass
class Activations(Mapping):
    """Layer name -> tensor, in the order the layers finished executing.

    ``info[name]`` holds a :class:`LayerInfo`; ``output`` the model's own output
    (None when the forward was stopped early); ``skipped`` the non-tensor leaves
    of selected modules' outputs, by call name.
    """

    tensors: dict[str, torch.Tensor]
    info: dict[str, LayerInfo]
    output: Any = None
    skipped: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            from .select import _not_found

            raise _not_found(name, self.tensors, kind="captured layer") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def to(self, device: Any = None, dtype: Optional[torch.dtype] = None) -> "Activations":
        """A copy with every tensor moved to ``device`` and/or floating tensors cast to ``dtype``."""
        tensors = {
            name: t.to(device=device, dtype=dtype if dtype is not None and t.is_floating_point() else None)
            for name, t in self.tensors.items()
        }
        info = {
            name: dataclasses.replace(i, dtype=str(tensors[name].dtype), device=str(tensors[name].device))
            for name, i in self.info.items()
        }
        return Activations(tensors, info, self.output, dict(self.skipped))

    def cpu(self) -> "Activations":
        return self.to("cpu")

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def summary(self) -> str:
        """A plain-text table: name, module type, shape."""
        if not self.tensors:
            return "Activations: nothing captured"
        width = max(len(n) for n in self.tensors)
        rows = [f"Activations: {len(self)} tensors, {self.nbytes / 2**20:.1f} MiB"]
        for name, meta in self.info.items():
            note = "  (copied: modified in place later)" if meta.protected else ""
            rows.append(f"  {name:<{width}}  {meta.module_type:<18} {tuple(meta.shape)}{note}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:  # Jupyter: a table with a thumbnail per layer
        from ..render.repr import activations_html

        return activations_html(self)
