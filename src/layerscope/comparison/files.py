"""A comparison as files: ``compare.json`` (the index), ``heatmap.png``, ``matched/<NN>_<layer>.png``.

>>> import numpy as np, tempfile, pathlib
>>> from layerscope.comparison.result import Comparison
>>> c = Comparison({"spec": "a"}, {"spec": "b"}, 8, [], ["x"], ["x"], np.ones((1, 1)))
>>> out = pathlib.Path(tempfile.mkdtemp()) / "cmp"
>>> sorted(p.name for p in c.save(out).iterdir())
['compare.json', 'heatmap.png']

The folder follows the one rule of output folders (:class:`~layerscope.core.outputs.OutputFolder`):
a rerun replaces its own files, files layerscope did not write are replaced only with ``overwrite``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.names import safe_name
from ..core.outputs import OutputFolder
from ..render.png import encode_png

if TYPE_CHECKING:
    from .result import Comparison

__all__ = ["write_comparison", "INDEX", "HEATMAP", "MATCHED"]

INDEX, HEATMAP, MATCHED = "compare.json", "heatmap.png", "matched"


def write_comparison(comparison: "Comparison", folder: OutputFolder, max_channels: int = 16) -> None:
    """Write the heat map and the matched channels' grids of ``comparison`` into ``folder`` (the index is not
    written here: :meth:`Comparison.save` writes it last)."""
    matched = [p for p in comparison.pairs if p.match is not None and p.match.probe_a is not None]
    names = [f"{MATCHED}/{number:02d}_{safe_name(pair.name, 'layer')}.png" for number, pair in enumerate(matched)]
    folder.claim([HEATMAP, *names])  # a clash fails before any picture is drawn
    folder.write(comparison.heatmap_png(), HEATMAP)
    for name, pair in zip(names, matched):
        folder.write(encode_png(pair.match.grids(max_channels).array), name)
