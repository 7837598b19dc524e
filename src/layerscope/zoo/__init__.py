"""Builtin models trained by the project and shipped with it, so everything works offline.

>>> model = build_builtin("digits")            # SimpleCNN, trained weights (safetensors)
>>> images, labels = sample_inputs("digits")   # held-out digits, uint8 (30, 28, 28)
>>> builtin_info("digits").accuracy > 0.97
True

Retrain with ``python -m layerscope.zoo.train digits --out DIR``.
"""

from ._registry import BuiltinInfo, build_builtin, builtin_info, list_builtin
from ._samples import PHOTO_SET, PHOTOS, sample_inputs, sample_patches, sample_photo, sample_photo_set, write_sample_images

__all__ = [
    "BuiltinInfo",
    "list_builtin",
    "build_builtin",
    "builtin_info",
    "sample_inputs",
    "sample_photo",
    "write_sample_images",
    "PHOTOS",
    "PHOTO_SET",
    "sample_photo_set",
    "sample_patches",
]
