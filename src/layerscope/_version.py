"""The version of layerscope, in one place (``layerscope.__version__`` re-exports it)."""

__version__ = "0.1.0"
