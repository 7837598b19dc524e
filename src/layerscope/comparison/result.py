"""What :func:`layerscope.compare` returns: per layer pair CKA, cosine, relative L2, matches; the heat map.

>>> import numpy as np
>>> pair = LayerComparison("conv1", "conv1", 0.25, 0.5, 0.9, (4, 8, 8), (4, 8, 8))
>>> pair.change, pair.to_dict()["cka"]
(0.75, 0.25)
"""

from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..core.jsonio import jsonable
from ..render.viewables import ImageView
from .match import ChannelMatch

__all__ = ["LayerComparison", "Comparison", "INDEX"]

INDEX = "compare.json"  # the file that marks a folder as written by Comparison.save


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
class Comparison:
    """Layer pairs of two models (or one model on two input sets), compared over the same inputs.

    ``pairs`` in model A's layer order; ``matrix`` the CKA of every captured layer of A
    (``layers_a``, rows) with every one of B (``layers_b``, columns): the heat map.
    ``comparison["conv1"]`` gives a pair by A's layer name; :meth:`ranking` the pairs that changed
    most first. Displays as a table with the heat map in Jupyter; :meth:`to_dict` for machines,
    :meth:`heatmap` / :meth:`heatmap_png` for pictures, :meth:`save` writes them all to a folder.
    """

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
        from ..capturing.select import _not_found

        raise _not_found(layer, [p.layer_a for p in self.pairs], kind="compared layer") from None

    def ranking(self) -> list[LayerComparison]:
        """The pairs by change, largest first (lowest CKA; a pair without CKA last)."""
        return sorted(self.pairs, key=lambda p: -p.change if np.isfinite(p.cka) else np.inf)

    # -- pictures ------------------------------------------------------------------------------------
    def heatmap_figure(self, *, title: Optional[str] = None) -> Any:
        """A ``matplotlib.figure.Figure`` of :attr:`matrix`: A's layers down, B's across, CKA in [0, 1]."""
        from .heatmap import heatmap_figure

        return heatmap_figure(self, title=title)

    def heatmap_png(self, *, dpi: int = 100) -> bytes:
        buffer = io.BytesIO()
        self.heatmap_figure().savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()

    def heatmap(self) -> ImageView:
        """The heat map as an :class:`~layerscope.render.ImageView` (``.array``: RGB uint8)."""
        from PIL import Image

        with Image.open(io.BytesIO(self.heatmap_png())) as image:
            return ImageView(np.asarray(image.convert("RGB")), title=f"linear CKA, {self.labels[0]} vs {self.labels[1]}")

    def save(self, out: Union[str, Path], *, overwrite: bool = False, max_channels: int = 16) -> Path:
        """Write ``compare.json``, ``heatmap.png`` and ``matched/<NN>_<layer>.png`` under ``out``.

        A folder that already holds a ``compare.json`` (an earlier save) is replaced only with
        ``overwrite=True``; a folder with other files is never written into.
        """
        from .files import save_comparison

        return save_comparison(self, Path(out), overwrite=overwrite, max_channels=max_channels)

    # -- words and data --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from .._version import __version__

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
        head = (f"{self.labels[0]}: {self.a.get('spec')}  vs  {self.labels[1]}: {self.b.get('spec')}, "
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

    def _repr_html_(self) -> str:
        import base64

        e = html.escape
        cells = "".join(
            f"<tr><td><code>{e(p.name)}</code></td><td>{_num(p.cka)}</td><td>{_num(p.cosine)}</td>"
            f"<td>{_num(p.rel_l2)}</td><td>{'' if p.match is None else len(p.match.moved)}</td></tr>"
            for p in self.pairs
        )
        image = base64.b64encode(self.heatmap_png(dpi=72)).decode("ascii")
        notes = "".join(f"<li>{e(n)}</li>" for n in self.notes)
        return (
            f"<div class='layerscope-compare'><p><b>{e(self.labels[0])}</b>: {e(str(self.a.get('spec')))} vs "
            f"<b>{e(self.labels[1])}</b>: {e(str(self.b.get('spec')))}, {self.inputs} inputs</p>"
            "<table><tr><th>layer</th><th>CKA</th><th>cosine</th><th>rel. L2</th><th>channels moved</th></tr>"
            f"{cells}</table><img src='data:image/png;base64,{image}' alt='CKA heat map'>"
            f"{f'<ul>{notes}</ul>' if notes else ''}</div>"
        )


def _num(value: Optional[float]) -> str:
    return f"{value:6.3f}" if value is not None and np.isfinite(value) else f"{'-':>6}"
