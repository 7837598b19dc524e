"""The dataset atlas in the report: a zoomable map (``static/atlas.js``, pan and zoom on a canvas) whose cells
carry their own small thumbnails, decoded only when a cell is drawn large enough or clicked (never one sprite).

>>> import numpy as np
>>> from layerscope.atlas.layout import Atlas, Cell
>>> a = Atlas(np.array([[0.1, 0.2], [0.9, 0.8]], np.float32),
...           [Cell(0, 1, np.array([1]), np.array([1]), "b"), Cell(1, 0, np.array([0]), np.array([0]), "a")], (2, 2),
...           labels=["a", "b"], names=["<img src=x>", "b.png"], thumbnails={0: np.zeros((4, 4, 3), np.uint8)})
>>> block = AtlasMap.of(a)
>>> data = block.data()
>>> data["grid"], data["labels"], [[uri[:22] for uri in c["thumbs"]] for c in data["cells"]]
([2, 2], [['a', '#1f77b4'], ['b', '#ff7f0e']], [[], ['data:image/png;base64,']])
>>> data["cells"][1]["names"]
['<img src=x>']

Names travel as JSON text (``tojson`` escapes ``<``) and the script only ever sets ``textContent``: a hostile
file name shows as text, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..atlas.draw import label_colours
from ..atlas.layout import Atlas
from .images import photo_uri

__all__ = ["AtlasMap", "POINTS_SHOWN"]

POINTS_SHOWN = 20_000  # at most this many points are drawn as dots under the cells (a seeded sample beyond)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


@dataclass(frozen=True)
class AtlasMap:
    """A report block: the atlas as a zoomable map. ``cells``: per occupied cell its place, count, label, purity,
    the data URIs of its top members' thumbnails and their names; ``points``: the layout (0..1000 integers)
    with each point's label index, for the dots under the cells."""

    title: str
    grid: tuple[int, int]
    cells: tuple[dict, ...]
    labels: tuple[tuple[str, str], ...]
    points: tuple[int, ...]
    summary: str

    atlas = True  # the component's marker (components.html: ``block.atlas is defined``)

    @classmethod
    def of(cls, atlas: Atlas, *, title: str = "") -> "AtlasMap":
        colours = label_colours(atlas.label_names)
        codes = {name: i for i, name in enumerate(atlas.label_names)}
        uris = {i: photo_uri(picture) for i, picture in atlas.thumbnails.items()}
        cells = []
        for cell in atlas.cells:
            top = cell.top.tolist()
            cells.append({
                "row": cell.row, "col": cell.col, "count": int(len(cell.members)), "label": cell.label,
                "purity": round(float(cell.purity), 3), "thumbs": [uris[i] for i in top if i in uris],
                "names": [atlas.names[i] if atlas.names is not None else f"#{i}" for i in top],
            })
        shown = np.arange(len(atlas))
        if len(shown) > POINTS_SHOWN:
            shown = np.sort(np.random.default_rng(0).choice(shown, POINTS_SHOWN, replace=False))
        xy = np.round(atlas.coords[shown] * 1000).astype(np.int64)
        code = np.array([codes[atlas.labels[i]] for i in shown.tolist()] if atlas.labels is not None else
                        [-1] * len(shown), np.int64)
        points = tuple(np.stack([xy[:, 0], xy[:, 1], code], axis=1).reshape(-1).tolist())
        return cls(title or atlas.summary(), (atlas.grid[0], atlas.grid[1]), tuple(cells),
                   tuple((name, _hex(colours[name])) for name in atlas.label_names), points, atlas.summary())

    def data(self) -> dict[str, Any]:
        """What ``atlas.js`` reads (a JSON script block inside the section)."""
        return {"grid": list(self.grid), "cells": list(self.cells), "labels": [list(pair) for pair in self.labels],
                "points": list(self.points), "summary": self.summary}
