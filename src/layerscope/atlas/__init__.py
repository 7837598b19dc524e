"""The dataset atlas: a 2-D layout (UMAP) of a layer's activation vectors over a dataset, binned into a grid
of cells that show the pictures (whole images, or receptive-field crops) of their members nearest the centre.

>>> from layerscope.atlas import atlas, atlas_of, Atlas, draw_atlas
"""

from .draw import draw_atlas
from .layout import Atlas, Cell, atlas, bin_cells
from .sources import atlas_of, atlas_of_store

__all__ = ["atlas", "atlas_of", "atlas_of_store", "Atlas", "Cell", "bin_cells", "draw_atlas"]
