"""Inputs: model specs and checkpoints (loaded safely), images (loaded robustly), preprocessing.

>>> from layerscope.io import load_model
>>> loaded = load_model("torchvision:resnet18")
>>> loaded.preprocessing.input_size
(224, 224)
"""

from .checkpoints import CheckpointFormat, sniff_checkpoint
from .find import find_images, load_images
from ..capturing.hookable import ensure_hookable, why_not_hookable
from .images import IMAGE_EXTENSIONS, IMAGE_FORMATS, LoadedImage, load_image
from .models import LoadedModel, load_model
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

__all__ = [
    "load_model",
    "LoadedModel",
    "Preprocessing",
    "load_image",
    "LoadedImage",
    "find_images",
    "load_images",
    "ensure_hookable",
    "why_not_hookable",
    "sniff_checkpoint",
    "CheckpointFormat",
    "IMAGE_EXTENSIONS",
    "IMAGE_FORMATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]
