"""Captured activations: an ordered mapping from layer name to tensor, with metadata beside each.

>>> import torch
>>> info = LayerInfo(name="conv", module="conv", module_type="Conv2d", call_index=0, output_path="")
>>> acts = Activations({"conv": torch.zeros(1, 4, 8, 8)}, {"conv": info})
>>> list(acts), acts.describe("conv")["shape"]
(['conv'], [1, 4, 8, 8])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import torch

from safetensors.torch import save as save_tensors

from ..core.layout import TokenGeometry
from ..core.outputs import OutputFolder
from ..core.results import Result
from .select import _not_found

__all__ = ["LayerInfo", "Activations"]


@dataclass(frozen=True)
class LayerInfo:
    """Static metadata of one captured tensor (what the tensor itself knows, shape and dtype, is not copied).

    ``name`` is the key in :class:`Activations`: the module's dotted name, then ``#k`` for its
    k-th call in one forward (k >= 1), then the path inside a structured output (``:0``,
    ``:logits``, ``:aux:0``). ``skipped`` lists the non-tensor leaves of that module's output.
    """

    name: str
    module: str
    module_type: str
    call_index: int
    output_path: str
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["skipped"] = list(self.skipped)
        return data


@dataclass
class Activations(Result, Mapping):
    """Layer name -> tensor, in the order the layers finished executing.

    In Jupyter it shows a table with a thumbnail per layer (registered by :mod:`layerscope.display`).

    ``info[name]`` holds a :class:`LayerInfo`; ``output`` the model's own output
    (None when the forward was stopped early); ``skipped`` the non-tensor leaves
    of selected modules' outputs, by call name; ``protected`` the names whose
    value was copied when captured because a later op of the forward wrote to
    that tensor in place (``ReLU(inplace=True)``, ``out += identity``); ``tokens`` the model's
    token geometry for this input size (prefix tokens and patch grid, read from the model by
    :func:`~layerscope.capturing.tokens.token_geometry`; None for models without tokens).
    """

    tensors: dict[str, torch.Tensor]
    info: dict[str, LayerInfo]
    output: Any = None
    skipped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    protected: frozenset = frozenset()
    tokens: Optional[TokenGeometry] = None

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.tensors[name]
        except KeyError:
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
        return dataclasses.replace(self, tensors=tensors)

    def cpu(self) -> "Activations":
        return self.to("cpu")

    def describe(self, name: str) -> dict[str, Any]:
        """JSON-able metadata of one capture: its :class:`LayerInfo` plus shape, dtype, device, protected,
        and for a 3-D capture of a token model the model's ``tokens`` geometry (a dict of :class:`TokenGeometry`)."""
        tensor = self[name]
        record = {
            **self.info[name].to_dict(),
            "shape": list(tensor.shape),
            "dtype": str(tensor.dtype),
            "device": str(tensor.device),
            "protected": name in self.protected,
        }
        if self.tokens is not None and tensor.dim() == 3:
            record["tokens"] = self.tokens.to_dict()
        return record

    index_name = "activations.json"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able metadata: every captured layer's :meth:`describe`, the model output's shape, what was skipped."""
        output = self.output
        return {"layers": {name: self.describe(name) for name in self.tensors},
                "output_shape": list(output.shape) if isinstance(output, torch.Tensor) else None,
                "skipped": {name: list(kinds) for name, kinds in self.skipped.items()}}

    def write_files(self, folder: OutputFolder) -> None:
        """The tensors as one safetensors file (``activations.safetensors``, keys are the layer names)."""
        tensors = {name: t.detach().to("cpu").contiguous() for name, t in self.tensors.items()}
        folder.write(save_tensors(tensors), "activations.safetensors")

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
            note = "  (copied: modified in place later)" if name in self.protected else ""
            rows.append(f"  {name:<{width}}  {meta.module_type:<18} {tuple(self.tensors[name].shape)}{note}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return self.summary()
