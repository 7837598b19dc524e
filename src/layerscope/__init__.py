"""layerscope: a feature-map microscope for PyTorch."""
__version__ = "0.1.0"
