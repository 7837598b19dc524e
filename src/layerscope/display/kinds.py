"""The notebook HTML of each kind of result, registered with :func:`~layerscope.core.display.html_for`.

Importing :mod:`layerscope` imports this module, so an :class:`~layerscope.Activations` (or any
registered kind) displays as a table in Jupyter while the engine and the analyses import no HTML.

>>> import torch, layerscope as ls
>>> acts = ls.capture(torch.nn.Conv2d(3, 2, 3), torch.rand(1, 3, 8, 8))
>>> page = acts._repr_html_()
>>> "<table" in page and "data:image/png;base64," in page
True
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..capturing.activations import Activations
from ..comparison.result import Comparison
from ..core.display import html_for
from ..render.viewables import ActivationsView, ImageTable, ImageView
from ..showing.api import ShowResult
from .tables import activations_html, figure_html, image_table

__all__ = ["show_result_html"]

SHOWN_VIEWS = ("overlay", "mean", "pca")  # a show result's table shows the grid, else the first of these drawn


@html_for(Activations)
def _activations(acts: Activations) -> str:
    return activations_html(acts)


@html_for(ActivationsView)
def _activations_view(view: ActivationsView) -> str:
    return activations_html(view.acts, layers=view.names, thumb_height=min(view.height, 48), **view.options)


@html_for(ImageView)
def _image_view(view: ImageView) -> str:
    return figure_html(view.array, view.title)


@html_for(ImageTable)
def _image_table(table: ImageTable) -> str:
    return image_table(table.images, table.rows, table.columns, title=table.title, notes=table.notes)


@html_for(ShowResult)
def show_result_html(result: ShowResult) -> str:
    """A table of thumbnails of what :func:`~layerscope.show` drew: a row per input, a column per layer."""
    notes = [f"skipped {p}: {r}" for p, r in result.skipped]
    notes += [f"skipped layer {n}: {r}" for n, r in result.skipped_layers]
    rows = [(entry["name"], entry["source"]) for entry in result.inputs]
    columns = [row["name"] for row in result.layers]
    return image_table(_show_pictures(result), rows, columns, title=repr(result), notes=notes)


def _show_pictures(result: ShowResult) -> dict[str, dict[str, Any]]:
    """Per input and layer, the picture a table shows: the grid, else the first other view drawn."""
    out = None if result.out is None else Path(result.out)
    pictures: dict[str, dict[str, Any]] = {}
    for entry in result.inputs:
        shown = dict((result.files or result.grids).get(entry["name"], {}))
        for view in SHOWN_VIEWS:
            for layer, picture in entry.get("views", {}).get(view, {}).items():
                shown.setdefault(layer, out / picture if out is not None else picture)
        pictures[entry["name"]] = shown
    return pictures


@html_for(Comparison)
def _comparison(self: Comparison) -> str:
    """A table of the layer pairs (CKA, cosine, relative L2, channels moved), the CKA heat map and the notes."""
    e = html.escape
    cells = "".join(
        f"<tr><td><code><bdi>{e(p.name)}</bdi></code></td><td>{_num(p.cka)}</td><td>{_num(p.cosine)}</td>"
        f"<td>{_num(p.rel_l2)}</td><td>{'' if p.match is None else len(p.match.moved)}</td></tr>"
        for p in self.pairs
    )
    image = base64.b64encode(self.heatmap_png(dpi=72)).decode("ascii")
    notes = "".join(f"<li>{e(n)}</li>" for n in self.notes)
    return (
        f"<div class='layerscope-compare'><p><b><bdi>{e(self.labels[0])}</bdi></b>: <bdi>{e(str(self.a.get('spec')))}</bdi> vs "
        f"<b><bdi>{e(self.labels[1])}</bdi></b>: <bdi>{e(str(self.b.get('spec')))}</bdi>, {self.inputs} inputs</p>"
        "<table><tr><th>layer</th><th>CKA</th><th>cosine</th><th>rel. L2</th><th>channels moved</th></tr>"
        f"{cells}</table><img src='data:image/png;base64,{image}' alt='CKA heat map'>"
        f"{f'<ul>{notes}</ul>' if notes else ''}</div>"
    )


def _num(value: Optional[float]) -> str:
    return f"{value:6.3f}" if value is not None and np.isfinite(value) else f"{'-':>6}"
