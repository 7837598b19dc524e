"""Dictionary features: sparse dictionaries (TopK / BatchTopK sparse autoencoders) learned on a layer's
stored activations, whose latents every verb reads like channels (``Subject.of(..., transforms={layer: d})``,
``scan(..., transforms=...)``)."""

from .model import Dictionary
from .training import DictionaryOptions, measure, train_dictionary

__all__ = ["Dictionary", "DictionaryOptions", "train_dictionary", "measure"]
