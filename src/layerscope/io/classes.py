"""Class names of classifiers (the predictions themselves: :mod:`layerscope.io.predictions`)."""

from __future__ import annotations

from functools import lru_cache
__all__ = ["imagenet_classes"]


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (nothing is downloaded).

    >>> names = imagenet_classes()
    >>> len(names), names[285], names[967]
    (1000, 'Egyptian cat', 'espresso')
    """
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
