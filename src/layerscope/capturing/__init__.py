"""Capture the activations of selected layers of any nn.Module, exactly and with owned hooks."""

from .activations import Activations, LayerInfo
from .call import Args, call_model, model_device
from .layers import LayerRow, LayerTable, list_layers
from .recorder import Recorder
from .select import LayerSelector, select_layers
from .state import ModelState

__all__ = [
    "Activations",
    "Args",
    "LayerInfo",
    "LayerRow",
    "LayerTable",
    "LayerSelector",
    "ModelState",
    "Recorder",
    "call_model",
    "list_layers",
    "model_device",
    "select_layers",
]
