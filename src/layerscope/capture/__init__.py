"""Capture the activations of selected layers of any nn.Module, exactly and with owned hooks."""

from .activations import Activations, LayerInfo
from .recorder import Recorder, model_device
from .select import LayerSelector, select_layers

__all__ = ["Activations", "LayerInfo", "Recorder", "select_layers", "LayerSelector", "model_device"]
