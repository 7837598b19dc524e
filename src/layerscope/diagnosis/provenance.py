"""Which preprocessing the input checks compare against, and where the model's weights came from.

>>> from ..io import load_model
>>> loaded = load_model("torchvision:resnet18").with_preprocessing(mean=(0.5,), std=(0.5,))
>>> own, used, certain = preprocessings(loaded)
>>> own.mean, used.mean, certain
((0.485, 0.456, 0.406), (0.5, 0.5, 0.5), True)

The model's own (native) preprocessing comes from its weights' or spec's metadata
(``LoadedModel.native_preprocessing``); overrides (``--mean``, ``--size``,
``with_preprocessing``, ``preprocessing=``) give the one the inputs go through.
"""

from __future__ import annotations

from typing import Any

__all__ = ["preprocessings", "checkpoint_of", "skipped_note"]

from ..io.checkpoints import checkpoint_of
from ..io.resolve import ASSUMED

DEFAULTS = "ImageNet defaults"  # the convention a random-init architecture is trained with


def preprocessings(loaded: Any) -> tuple[Any, Any, bool]:
    """``(own, used, certain)`` for :func:`~layerscope.diagnosis.inputs.check_inputs`.

    ``own``: the model's preprocessing (None: unknown); an assumed one (the bare-module rule of
    :mod:`layerscope.io.resolve`) is replaced by what is used when the user set that, since an
    override is then the user's knowledge, not a mistake. ``used``: the one the inputs go through.
    ``certain`` is False when the weights come from a checkpoint while ``own`` is only the
    architecture's default convention.
    """
    used = loaded.preprocessing
    own = loaded.native_preprocessing
    if ASSUMED in own.source:
        return (used if loaded.overrides else None), None, True
    foreign = checkpoint_of(loaded) is not None and getattr(own, "source", "").startswith(DEFAULTS)
    return own, used, not foreign


def skipped_note(skipped: list, loaded_images: int) -> list[str]:
    """One note summarizing the images that could not be read (their reasons are in ``skipped``)."""
    if not skipped:
        return []
    total = loaded_images + len(skipped)
    first = f"{skipped[0][0]}: {str(skipped[0][1]).rstrip('.')}"
    more = f"; {len(skipped) - 1} more in 'skipped' (--json)" if len(skipped) > 1 else ""
    return [f"skipped {len(skipped)} of {total} images that could not be read ({first}{more})."]
