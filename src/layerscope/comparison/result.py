"""What :func:`layerscope.compare` returns: per layer pair CKA, cosine, relative L2, matches; the heat map.

>>> import numpy as np
>>> pair = LayerComparison("conv1", "conv1", 0.25, 0.5, 0.9, (4, 8, 8), (4, 8, 8))
>>> pair.change, pair.to_dict()["cka"]
(0.75, 0.25)
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Union

import numpy as np
from PIL import Image

from .._version import __version__
from ..capturing.select import _not_found
from ..core.jsonio import jsonable
from ..core.outputs import OutputFolder
from ..core.results import Result
from ..render.viewables import ImageView
from .files import INDEX, write_comparison
from .heatmap import heatmap_figure
from .match import ChannelMatch

__all__ = ["LayerComparison", "Comparison", "INDEX"]


@dataclass
class LayerComparison:
    """One pair of layers: ``cka`` (linear, debiased), ``cosine`` and ``rel_l2`` of the maps (None when the
    two shapes differ), the shapes of one input's activation, and the channel ``match`` (if computed).

    ``cosine`` is ``<a, b> / (|a| |b|)`` and ``rel_l2`` is ``|b - a| / |a|``, both over every value
    of every input (A is the reference).
    """

    layer_a: str
    layer_b: str
    cka: float
    cosine: Optional[float]
    rel_l2: Optional[float]
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    match: Optional[ChannelMatch] = field(default=None, repr=False)

    @property
    def change(self) -> float:
        """1 - CKA: 0 for the same representation (up to rotation and scale), about 1 for unrelated ones."""
        return 1.0 - self.cka

    @property
    def name(self) -> str:
        return self.layer_a if self.layer_a == self.layer_b else f"{self.layer_a} ~ {self.layer_b}"

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"layer_a": self.layer_a, "layer_b": self.layer_b, "cka": self.cka, "cosine": self.cosine,
                         "rel_l2": self.rel_l2, "shape_a": self.shape_a, "shape_b": self.shape_b,
                         "match": self.match.to_dict() if self.match is not None else None}, digits=6)


@dataclass
class Comparison(Result):
    """Layer pairs of two models (or one model on two input sets), compared over the same inputs.

    ``pairs`` in model A's layer order; ``matrix`` the CKA of every captured layer of A
    (``layers_a``, rows) with every one of B (``layers_b``, columns): the heat map.
    ``comparison["conv1"]`` gives a pair by A's layer name; :meth:`ranking` the pairs that changed
    most first. Displays as a table with the heat map in Jupyter; :meth:`to_dict` for machines,
    :meth:`heatmap` / :meth:`heatmap_png` for pictures, :meth:`save` writes them all to a folder.
    """

    index_name: ClassVar[str] = INDEX

    a: dict
    b: dict
    inputs: int
    pairs: list[LayerComparison]
    layers_a: list[str]
    layers_b: list[str]
    matrix: np.ndarray
    labels: tuple[str, str] = ("A", "B")
    debiased: bool = True
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, layer: str) -> LayerComparison:
        for pair in self.pairs:
            if layer in (pair.layer_a, pair.name):
                return pair
        raise _not_found(layer, [p.layer_a for p in self.pairs], kind="compared layer") from None

    def ranking(self) -> list[LayerComparison]:
        """The pairs by change, largest first (lowest CKA; a pair without CKA last)."""
        return sorted(self.pairs, key=lambda p: -p.change if np.isfinite(p.cka) else np.inf)

    # -- pictures ------------------------------------------------------------------------------------
    def heatmap_figure(self, *, title: Optional[str] = None) -> Any:
        """A ``matplotlib.figure.Figure`` of :attr:`matrix`: A's layers down, B's across, CKA in [0, 1]."""
        return heatmap_figure(self, title=title)

    def heatmap_png(self, *, dpi: int = 100) -> bytes:
        buffer = io.BytesIO()
        self.heatmap_figure().savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()

    def heatmap(self) -> ImageView:
        """The heat map as an :class:`~layerscope.render.ImageView` (``.array``: RGB uint8)."""
        with Image.open(io.BytesIO(self.heatmap_png())) as image:
            return ImageView(np.asarray(image.convert("RGB")), title=f"linear CKA, {self.labels[0]} vs {self.labels[1]}")

    def write_files(self, folder: OutputFolder) -> None:
        """``heatmap.png`` and ``matched/<NN>_<layer>.png`` (at most 16 channels per side)."""
        write_comparison(self, folder)

    def save(self, out: Union[str, Path], *, overwrite: bool = False, max_channels: int = 16) -> Path:
        """Write ``heatmap.png``, ``matched/<NN>_<layer>.png`` and last ``compare.json`` under ``out``.

        The folder follows the one rule of :class:`~layerscope.core.outputs.OutputFolder`: saving
        again replaces the earlier save's files; a file layerscope did not write is replaced only
        with ``overwrite=True``, which also first deletes the earlier save's files.
        """
        folder = OutputFolder(out, self.index_name, overwrite=overwrite)
        write_comparison(self, folder, max_channels)
        folder.finish(self.to_dict(), indent=2)
        return folder.out

    # -- words and data --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "layerscope_version": __version__, "a": self.a, "b": self.b, "labels": list(self.labels),
            "inputs": self.inputs, "estimator": "debiased HSIC" if self.debiased else "biased HSIC",
            "pairs": [p.to_dict() for p in self.pairs],
            "ranking": [p.name for p in self.ranking()],
            "heatmap": {"layers_a": self.layers_a, "layers_b": self.layers_b, "cka": np.round(self.matrix, 6)},
            "notes": self.notes,
        })

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary(self) -> str:
        head = (f"{self.labels[0]}: {_side(self.a, self.b)}  vs  {self.labels[1]}: {_side(self.b, self.a)}, "
                f"{self.inputs} inputs, linear CKA ({'debiased' if self.debiased else 'biased'} HSIC)")
        width = max([len(p.name) for p in self.pairs] + [5])
        rows = [f"{'layer':<{width}}  {'cka':>6}  {'cosine':>6}  {'rel_l2':>6}  matched"]
        for pair in self.pairs:
            match = "" if pair.match is None else f"{len(pair.match.moved)} of {len(pair.match.a)} moved"
            rows.append(f"{pair.name:<{width}}  {_num(pair.cka)}  {_num(pair.cosine)}  {_num(pair.rel_l2)}  {match}")
        ranked = [p.name for p in self.ranking()[:3]]
        return "\n".join([head, *rows, f"changed most: {', '.join(ranked)}", *(f"note: {n}" for n in self.notes)])

    def __repr__(self) -> str:
        return self.summary()


def _side(info: dict, other: dict) -> str:
    """A side's spec, with its weights when the other side has the same spec (two checkpoints of one model).

    >>> _side({"spec": "m", "weights": "a.safetensors"}, {"spec": "m", "weights": "b.safetensors"})
    'm (a.safetensors)'
    >>> _side({"spec": "m", "weights": None}, {"spec": "n"})
    'm'
    """
    spec, weights = info.get("spec"), info.get("weights")
    if weights and spec == other.get("spec") and weights != other.get("weights"):
        return f"{spec} ({weights})"
    return str(spec)


def _num(value: Optional[float]) -> str:
    return f"{value:6.3f}" if value is not None and np.isfinite(value) else f"{'-':>6}"
