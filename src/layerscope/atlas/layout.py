"""The dataset atlas: activation vectors -> a 2-D UMAP layout -> a grid of cells, each with its members and the
thumbnails of the members nearest its centre.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> vectors = np.concatenate([rng.normal(0, 1, (60, 8)), rng.normal(8, 1, (60, 8))])
>>> a = atlas(vectors, labels=["a"] * 60 + ["b"] * 60, grid=8, seed=0)
>>> a.coords.shape, sum(len(c.members) for c in a.cells), a.silhouette() > 0.5
((120, 2), 120, True)

Choices, stated once:

- **Reduction.** Vectors wider than ``pca`` (50) dimensions are first projected on their top 50 principal
  components (randomized PCA with the seed): UMAP's neighbour search then runs on 50 numbers a point, which
  is what makes 100k points take minutes, and drops noise dimensions. UMAP runs with ``low_memory=True``
  (its nearest-neighbour descent without the big cache) and ``random_state=seed``, so a seed gives the same
  layout on the same machine (UMAP then runs single-threaded; ``seed=None`` lets it use every core).
- **Cells.** The layout is scaled to the unit square and cut into ``grid`` (rows, cols) cells. A cell's
  ``top`` members are the ``top`` points nearest the cell's centre: the points that stand for *that place*
  of the map (the most activating point has no meaning for a vector). Their pictures are the cell's
  thumbnails: the whole image for per-image points, the receptive-field crop for per-position points.
- **Colour.** A cell takes the most common label of its members, and its ``purity`` (that label's share).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from ..core.outputs import OutputFolder
from ..core.results import Result
from ..errors import InputError, require
from ..render.png import encode_png
from .draw import draw_atlas, fit_picture

__all__ = ["atlas", "Atlas", "Cell", "PCA_DIMS"]

PCA_DIMS = 50  # vectors wider than this are projected on their top principal components before UMAP
TOP = 4  # thumbnails a cell keeps (a 2x2 mosaic)

Pictures = Union[Sequence[Any], np.ndarray, Callable[[int], Any]]


@dataclass(frozen=True)
class Cell:
    """One occupied cell of the grid: its ``row``/``col``, its ``members`` (point indices), the ``top`` members
    nearest its centre (nearest first), its majority ``label`` (None without labels) and that label's share."""

    row: int
    col: int
    members: np.ndarray
    top: np.ndarray
    label: Optional[str] = None
    purity: float = 1.0

    def to_dict(self, members: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, "col": self.col, "count": int(len(self.members)),
                               "top": [int(i) for i in self.top], "label": self.label,
                               "purity": round(float(self.purity), 4)}
        if members:
            out["members"] = [int(i) for i in self.members]
        return out


class Atlas(Result):
    """A dataset atlas: ``coords`` (n, 2) in the unit square, ``cells`` (the occupied ones, row-major),
    ``labels`` (n strings, or None), ``names`` (n captions), ``thumbnails`` (point index -> RGB array, for the
    cells' top members only), ``grid`` (rows, cols) and how it was made (``params``, ``seconds``)."""

    index_name = "atlas.json"

    def __init__(self, coords: np.ndarray, cells: list[Cell], grid: tuple[int, int], *,
                 labels: Optional[list[str]] = None, names: Optional[list[str]] = None,
                 thumbnails: Optional[dict[int, np.ndarray]] = None, params: Optional[dict] = None,
                 seconds: float = 0.0, layer: str = "") -> None:
        self.coords, self.cells, self.grid = coords, cells, grid
        self.labels, self.names = labels, names
        self.thumbnails = thumbnails or {}
        self.params, self.seconds, self.layer = dict(params or {}), seconds, layer

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    @property
    def members(self) -> list[np.ndarray]:
        """Each occupied cell's point indices (as :attr:`cells`)."""
        return [cell.members for cell in self.cells]

    @property
    def label_names(self) -> list[str]:
        """The distinct labels, sorted (the order of the colours)."""
        return sorted(set(self.labels)) if self.labels is not None else []

    def silhouette(self, labels: Optional[Sequence[Any]] = None, *, sample: int = 10_000, seed: int = 0) -> float:
        """The silhouette of the 2-D layout grouped by ``labels`` (default: the atlas's) on at most ``sample``
        points: near 1 when the labels sit apart on the map, near 0 when they are mixed."""
        metrics = require("sklearn.metrics", "atlas", "the atlas's silhouette")
        labels = self.labels if labels is None else [str(v) for v in labels]
        if labels is None or len(set(labels)) < 2:
            raise InputError("silhouette() needs labels with at least two values; give labels= to atlas() or here.")
        return float(metrics.silhouette_score(self.coords, np.asarray(labels), sample_size=min(sample, len(self)),
                                              random_state=seed))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "atlas", "layer": self.layer, "points": len(self), "grid": list(self.grid),
                "params": self.params, "seconds": round(self.seconds, 3), "labels": self.label_names,
                "cells": [cell.to_dict() for cell in self.cells]}

    def summary(self) -> str:
        labelled = f", {len(self.label_names)} labels" if self.labels is not None else ""
        where = f" of {self.layer}" if self.layer else ""
        return (f"atlas{where}: {len(self)} points in {len(self.cells)} cells of a {self.grid[0]}x{self.grid[1]} "
                f"grid{labelled} ({self.seconds:.1f} s)")

    def write_files(self, folder: OutputFolder) -> None:
        folder.write(encode_png(draw_atlas(self)), "atlas.png")
        table = {"x": self.coords[:, 0].round(5).tolist(), "y": self.coords[:, 1].round(5).tolist(),
                 "label": self.labels, "name": self.names}
        folder.write(json.dumps(table).encode("utf-8"), "points.json")

    def __repr__(self) -> str:
        return f"Atlas({self.summary()})"


def _reduce(vectors: np.ndarray, seed: Optional[int], pca: int) -> tuple[np.ndarray, Optional[int]]:
    if vectors.shape[1] <= pca or len(vectors) <= pca:  # narrow already, or too few points to fit 50 components
        return vectors, None
    decomposition = require("sklearn.decomposition", "atlas", "the atlas's PCA")
    method = "randomized" if len(vectors) > 1000 else "full"
    reduced = decomposition.PCA(pca, svd_solver=method, random_state=seed).fit_transform(vectors)
    return reduced.astype(np.float32), pca


def _layout(vectors: np.ndarray, *, seed: Optional[int], n_neighbors: int, min_dist: float) -> np.ndarray:
    umap = require("umap", "atlas", "the dataset atlas (UMAP)")
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(vectors) - 1), min_dist=min_dist, random_state=seed,
                        n_jobs=1 if seed is not None else -1, low_memory=True, n_components=2, init="spectral" if len(vectors) > n_neighbors + 2 else "random")
    return np.asarray(reducer.fit_transform(vectors), dtype=np.float32)


def unit_square(points: np.ndarray) -> np.ndarray:
    """``points`` (n, 2) scaled to [0, 1] on each axis.

    >>> unit_square(np.array([[0., 10.], [2., 20.], [1., 15.]])).tolist()
    [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]
    """
    low, high = points.min(axis=0), points.max(axis=0)
    return ((points - low) / np.where(high > low, high - low, 1.0)).astype(np.float32)


def bin_cells(coords: np.ndarray, grid: tuple[int, int], *, top: int = TOP,
              labels: Optional[list[str]] = None) -> list[Cell]:
    """The occupied cells of ``grid`` (rows, cols) over ``coords`` (n, 2) in the unit square (x -> column,
    y -> row, y up), row-major; each cell's ``top`` members are those nearest its centre.

    >>> cells = bin_cells(np.array([[0.1, 0.1], [0.2, 0.2], [0.9, 0.9]]), (2, 2))
    >>> [(c.row, c.col, c.members.tolist(), c.top.tolist()) for c in cells]
    [(0, 1, [2], [2]), (1, 0, [0, 1], [1, 0])]
    """
    rows, cols = grid
    col = np.minimum((coords[:, 0] * cols).astype(np.int64), cols - 1)
    row = np.minimum(((1 - coords[:, 1]) * rows).astype(np.int64), rows - 1)  # row 0 at the top
    key = row * cols + col
    order = np.argsort(key, kind="stable")
    keys, starts = np.unique(key[order], return_index=True)
    cells = []
    for k, members in zip(keys.tolist(), np.split(order, starts[1:])):
        r, c = divmod(k, cols)
        centre = np.array([(c + 0.5) / cols, 1 - (r + 0.5) / rows], np.float32)
        distance = np.linalg.norm(coords[members] - centre, axis=1)
        nearest = members[np.argsort(distance, kind="stable")[:top]]
        label, purity = None, 1.0
        if labels is not None:
            (label, count), = Counter(labels[i] for i in members.tolist()).most_common(1)
            purity = count / len(members)
        cells.append(Cell(r, c, members, nearest, label, purity))
    return cells


def _grid(grid: Union[int, tuple[int, int]]) -> tuple[int, int]:
    rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if not (1 <= rows <= 256 and 1 <= cols <= 256):
        raise InputError(f"grid={grid!r}: give rows and columns between 1 and 256, e.g. grid=(24, 24).")
    return int(rows), int(cols)


def _picture(images: Pictures, index: int) -> Any:
    return images(index) if callable(images) else images[index]


def atlas(vectors: Any, *, images: Optional[Pictures] = None, labels: Optional[Sequence[Any]] = None,
          names: Optional[Sequence[str]] = None, grid: Union[int, tuple[int, int]] = 24, seed: Optional[int] = 0,
          n_neighbors: int = 15, min_dist: float = 0.1, pca: int = PCA_DIMS, top: int = TOP,
          thumbnail: int = 32, layer: str = "") -> Atlas:
    """The atlas of ``vectors`` (n, d): their UMAP layout binned into a ``grid`` of cells.

    ``images``: each point's picture (a sequence or array of RGB/grey arrays, or a function of the point
    index), read only for the cells' ``top`` members and shrunk to fit ``thumbnail`` pixels; ``labels``: one
    per point (colours the cells); ``names``: one caption per point (a file name; shown as text, escaped).
    ``seed`` makes the layout reproducible (None: faster, parallel, not reproducible).
    """
    start = time.perf_counter()
    data = np.asarray(vectors.detach().cpu() if hasattr(vectors, "detach") else vectors, dtype=np.float32)
    if data.ndim != 2 or len(data) < 4:
        raise InputError(f"atlas() takes vectors shaped (n >= 4, d), got {data.shape}; pool maps first "
                         "(atlas_of(model, inputs, layer=...) does it for you).")
    if not np.isfinite(data).all():
        raise InputError("atlas(): the vectors hold NaN or inf; drop or fix those rows first.")
    count = len(data)
    for what, given in (("labels", labels), ("names", names)):
        if given is not None and len(given) != count:
            raise InputError(f"atlas(): {len(given)} {what} for {count} vectors; give one per vector.")
    shape = _grid(grid)
    reduced, projected = _reduce(data, seed, pca)
    coords = unit_square(_layout(reduced, seed=seed, n_neighbors=n_neighbors, min_dist=min_dist))
    tags = [str(v) for v in labels] if labels is not None else None
    cells = bin_cells(coords, shape, top=top, labels=tags)
    thumbs: dict[int, np.ndarray] = {}
    if images is not None:
        for cell in cells:
            for i in cell.top.tolist():
                thumbs[i] = fit_picture(_picture(images, i), thumbnail)
    params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "seed": seed, "pca": projected, "low_memory": True,
              "dims": int(data.shape[1]), "top": top, "thumbnail": thumbnail, "top_rule": "nearest the cell centre"}
    return Atlas(coords, cells, shape, labels=tags, names=[str(n) for n in names] if names is not None else None,
                 thumbnails=thumbs, params=params, seconds=time.perf_counter() - start, layer=layer)
