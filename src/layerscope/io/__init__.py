"""Inputs: model specs and checkpoints (loaded safely), images (loaded robustly), preprocessing, and the one
input protocol (:func:`~layerscope.io.inputs.resolve_source` -> sources with global indices, read by
:class:`~layerscope.io.feed.Feed` and the scan): :mod:`.listing` (files, folders, ImageFolder trees, lists),
:mod:`.sources` (indexed), :mod:`.streams` (in order), :mod:`.shard`, :mod:`.video`.

>>> from layerscope.io import load_model
>>> loaded = load_model("torchvision:resnet18")
>>> loaded.preprocessing.input_size
(224, 224)
"""

from .checkpoints import CheckpointFormat, sniff_checkpoint
from .feed import Feed
from .find import find_images, load_images
from .inputs import resolve_source
from .listing import list_files
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
    "list_files",
    "Feed",
    "resolve_source",
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
