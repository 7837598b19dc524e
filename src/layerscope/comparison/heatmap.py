"""The layer-by-layer CKA heat map: every layer of model A against every layer of model B.

Built on ``matplotlib.figure.Figure`` directly (no pyplot, no global state, nothing shown).

>>> import numpy as np
>>> from layerscope.comparison.result import Comparison
>>> c = Comparison({"spec": "a"}, {"spec": "b"}, 8, [], ["x", "y"], ["x", "y"], np.eye(2))
>>> fig = heatmap_figure(c)
>>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
['x', 'y']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:
    from .result import Comparison

__all__ = ["heatmap_figure"]

CMAP = "magma"


def heatmap_figure(comparison: "Comparison", *, title: Optional[str] = None) -> Any:
    """A figure of ``comparison.matrix`` (rows: A's layers, columns: B's), CKA on a fixed [0, 1] scale.

    Cells show their value when the matrix is small enough to read; paired layers are outlined.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    matrix = np.asarray(comparison.matrix, dtype=np.float64)
    rows, cols = matrix.shape
    label_a, label_b = comparison.labels
    width = min(2.5 + 0.45 * cols, 24.0)
    height = min(1.8 + 0.35 * rows, 24.0)
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=CMAP, vmin=0.0, vmax=1.0, interpolation="nearest",
                      aspect="auto")
    ax.set_xticks(range(cols), comparison.layers_b, rotation=90, fontsize=7)
    ax.set_yticks(range(rows), comparison.layers_a, fontsize=7)
    ax.set_xlabel(f"{label_b}: {comparison.b.get('spec', '')}", fontsize=8)
    ax.set_ylabel(f"{label_a}: {comparison.a.get('spec', '')}", fontsize=8)
    if rows * cols <= 400:
        for (i, j), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if value > 0.6 else "white")
    where = {(a, b) for a, b in ((p.layer_a, p.layer_b) for p in comparison.pairs)}
    for i, a in enumerate(comparison.layers_a):
        for j, b in enumerate(comparison.layers_b):
            if (a, b) in where:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#00b7ff", linewidth=1.2))
    fig.colorbar(image, ax=ax, label="linear CKA", shrink=0.9)
    ax.set_title(title if title is not None else f"linear CKA, {comparison.inputs} inputs", fontsize=9)
    return fig
