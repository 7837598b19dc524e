"""Notebook display: the feature-map browser (:func:`~layerscope.display.browser.browse`)."""

from .browser import browse

__all__ = ["browse"]
