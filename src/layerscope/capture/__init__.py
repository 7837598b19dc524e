"""Capture the activations of selected layers of any nn.Module, exactly and with owned hooks."""

from .activations import Activations, LayerInfo
from .api import capture
from .layers import LayerRow, LayerTable, list_layers
from .recorder import Recorder, call_model, model_device
from .select import LayerSelector, select_layers

__all__ = [
    "Activations",
    "LayerInfo",
    "LayerRow",
    "LayerTable",
    "LayerSelector",
    "Recorder",
    "call_model",
    "capture",
    "list_layers",
    "model_device",
    "select_layers",
]
