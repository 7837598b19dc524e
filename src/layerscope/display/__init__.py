"""Notebook display (presentation tier): the feature-map browser (:func:`~layerscope.display.browser.browse`),
the HTML tables (:mod:`~layerscope.display.tables`) and the HTML of each result kind
(:mod:`~layerscope.display.kinds`, registered when this package is imported)."""

from . import diagnosis, kinds  # noqa: F401  (register the notebook HTML of each result kind)
from .browser import browse
from .tables import activations_html, image_table

__all__ = ["browse", "activations_html", "image_table"]
