"""The token geometry of a model, read from the model itself: how many prefix tokens, which patch grid.

>>> import torch, torchvision
>>> with torch.device("meta"):
...     vit = torchvision.models.vit_b_16()
>>> token_geometry(vit, (224, 224))
TokenGeometry(prefix=1, grid=(14, 14), prefix_names=('CLS',), source='torchvision VisionTransformer: class_token, patch_size 16')
>>> token_geometry(torchvision.models.resnet18(), (224, 224)) is None  # no tokens: its maps are native
True

Where the numbers come from:

- Hugging Face ``transformers`` (a module with ``config.model_type``; a CLIP-like model's vision
  tower): the prefix tokens are the embedding's own parameters, in the order the embedding puts
  them in front (``cls_token`` / CLIP's ``class_embedding``, DeiT's ``distillation_token``,
  DINOv2's ``register_tokens``: ViT 1, DeiT 2, DINOv2 1, DINOv2 with registers 1 + registers,
  CLIP 1); the grid is the input size over ``config.patch_size`` (rounded down, as the patch
  convolution does; any input size, the position embeddings being interpolated); an embedding with
  neither prefix tokens nor position embeddings is a conv stem (ConvNeXt: maps, None). Swin
  (``config.patch_size``, padded: rounded up) and SegFormer (``config.strides[0]``) have no prefix
  and a grid that halves from stage to stage (:meth:`~layerscope.core.layout.TokenGeometry.fit`).
- DETR-style detectors (``transformers``: a ``backbone`` and a ``Conv2d`` ``input_projection``,
  ``config.num_queries``): the encoder's tokens are the backbone's last feature map flattened, no
  prefix, the grid measured by running the backbone on a fake input of the size (shapes only); the
  decoder's ``num_queries`` tokens are object queries, laid out as vectors, never as a grid
  (``TokenGeometry.queries``).
- timm (``num_prefix_tokens``; ``cls_token``, ``reg_token``, ``dist_token``): the grid is
  ``patch_embed.dynamic_feat_size(input_size)`` (what ``dynamic_img_size`` / ``dynamic_img_pad`` models
  compute per input; ``grid_size`` for the others, which only take their own size; a hybrid's backbone
  reduction included); MLP-Mixer, gMLP, ResMLP (``stem``) have no prefix; LeViT's grid is the
  input over its stem's stride, halved by each later stage.
- torchvision's ``VisionTransformer``: one class token, ``patch_size``.

Models whose blocks emit maps (CNNs, ConvNeXt, timm's and torchvision's channels-last Swin) give
None: their layers are laid out natively. A model none of these describe gives None too, and its
token layers fall back to the guess of :func:`~layerscope.core.layout.token_grid`.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
import torch.nn as nn

from ..core.layout import TokenGeometry
from ..errors import InputError

__all__ = ["TokenGeometry", "token_geometry"]

# Hugging Face embedding parameters that put tokens in front of the patches, in the order they are concatenated
_HF_PREFIX = (("cls_token", "CLS"), ("class_embedding", "CLS"), ("distillation_token", "distillation"),
              ("register_tokens", "register"))
_HF_HALVING = {"swin": "patch_size", "donut-swin": "patch_size", "maskformer-swin": "patch_size",
               "swinv2": "patch_size", "segformer": "strides"}  # no prefix, a grid that halves per stage


def token_geometry(model: nn.Module, input_size: Sequence[int]) -> Optional[TokenGeometry]:
    """The prefix tokens and patch grid of ``model``'s token layers for inputs of ``input_size`` = (H, W) pixels.

    None when the model emits no token sequences (or is of a family not described above). Raises
    :class:`~layerscope.errors.InputError` for an input size that is not two positive ints.
    """
    size = _size(input_size)
    for read in (_hf, _timm, _torchvision):
        found = read(model, size)
        if found is not None:
            return found
    return None


def _size(input_size: Any) -> tuple[int, int]:
    pair = tuple(input_size)[-2:] if not isinstance(input_size, int) else (input_size, input_size)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise InputError(f"input_size must be (height, width) in pixels, got {input_size!r}.")
    return int(pair[0]), int(pair[1])


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _floor(size: tuple[int, int], patch: tuple[int, int]) -> tuple[int, int]:
    return size[0] // patch[0], size[1] // patch[1]


def _ceil(size: tuple[int, int], patch: tuple[int, int]) -> tuple[int, int]:
    return -(-size[0] // patch[0]), -(-size[1] // patch[1])


# -- Hugging Face transformers ------------------------------------------------------------------------
def _hf_config(model: nn.Module) -> Any:
    config = getattr(model, "config", None)
    if config is None or not isinstance(getattr(config, "model_type", None), str):
        return None
    vision = getattr(config, "vision_config", None)  # CLIP, SigLIP ...: the vision tower's config
    return vision if vision is not None and getattr(config, "patch_size", None) is None else config


def _hf_embeddings(model: nn.Module) -> Optional[nn.Module]:
    """The vision embedding module: the first whose class name ends in ``Embeddings`` and holds a patch embedding."""
    for name, module in model.named_modules():
        if type(module).__name__.endswith("Embeddings") and "text" not in name and any(
                "patch" in child for child, _ in module.named_children()):
            return module
    return None


def _hf(model: nn.Module, size: tuple[int, int]) -> Optional[TokenGeometry]:
    config = _hf_config(model)
    if config is None:
        return None
    kind = config.model_type
    queries = _hf_queries(model, config, size)
    if queries is not None:
        return queries
    if kind in _HF_HALVING:
        field = _HF_HALVING[kind]
        patch = getattr(config, field)
        patch = _pair(patch[0] if field == "strides" else patch)
        return TokenGeometry(0, _ceil(size, patch), (), f"transformers {type(config).__name__}: {field} {patch[0]}")
    patch_size, embeddings = getattr(config, "patch_size", None), _hf_embeddings(model)
    if patch_size is None or embeddings is None or not any(
            hasattr(embeddings, a) for a in ("position_embeddings", "position_embedding", *dict(_HF_PREFIX))):
        return None  # a patch embedding without position embeddings nor prefix tokens: a conv stem (ConvNeXt)
    names: list[str] = []
    for attribute, word in _HF_PREFIX:
        tokens = getattr(embeddings, attribute, None)
        if tokens is None:
            continue
        count = 1 if tokens.dim() < 2 else int(tokens.shape[-2])
        names += [word] if word != "register" else [f"register {i + 1}" for i in range(count)]
    patch = _pair(patch_size)
    held = ", ".join(a for a, _ in _HF_PREFIX if getattr(embeddings, a, None) is not None) or "no prefix tokens"
    return TokenGeometry(len(names), _floor(size, patch), tuple(names),
                         f"transformers {type(config).__name__}: {held}, patch_size {patch[0]}")


def _hf_queries(model: nn.Module, config: Any, size: tuple[int, int]) -> Optional[TokenGeometry]:
    """DETR-style detectors (a ``backbone`` and a ``Conv2d`` ``input_projection``, ``config.num_queries``): the
    encoder's tokens are the backbone's last feature map flattened (no prefix; its grid measured by running the
    backbone on a fake input of ``size``: shapes only, no arithmetic), the decoder's are the object queries."""
    count = getattr(config, "num_queries", None)
    holder = next((m for m in model.modules() if isinstance(getattr(m, "input_projection", None), nn.Conv2d)
                   and isinstance(getattr(m, "backbone", None), nn.Module)), None)
    if not count or holder is None:
        return None
    grid = _backbone_grid(holder.backbone, getattr(config, "num_channels", 3), size)
    if grid is None:
        return None
    return TokenGeometry(0, grid, (), f"transformers {type(config).__name__}: the backbone's last feature map, "
                         f"{count} object queries (num_queries)", queries=int(count))


def _backbone_grid(backbone: nn.Module, channels: int, size: tuple[int, int]) -> Optional[tuple[int, int]]:
    """(H, W) of the last feature map ``backbone(pixels, mask)`` gives for one ``size`` input, in eval mode, under a
    fake tensor mode (shapes are propagated, nothing is computed, the weights are read only); None when it fails."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    weight = next(backbone.parameters(), None)
    device, dtype = (weight.device, weight.dtype) if weight is not None else (torch.device("cpu"), torch.float32)
    modes = [(m, m.training) for m in backbone.modules()]
    backbone.eval()
    try:
        with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            pixels = torch.zeros(1, channels, *size, device=device, dtype=dtype)
            features = backbone(pixels, torch.ones(1, *size, device=device, dtype=torch.long))
            last = features[-1][0] if isinstance(features[-1], (tuple, list)) else features[-1]
            return int(last.shape[-2]), int(last.shape[-1])
    except Exception:  # noqa: BLE001 -- a backbone of another signature: no geometry (the layers are read as guessed)
        return None
    finally:
        for module, training in modes:
            module.training = training


# -- timm -----------------------------------------------------------------------------------------------
def _timm(model: nn.Module, size: tuple[int, int]) -> Optional[TokenGeometry]:
    if not type(model).__module__.startswith("timm."):
        return None
    kind = type(model).__name__
    if "Levit" in kind:
        stride = getattr(getattr(model, "stem", None), "stride", None)
        if stride is None or getattr(model, "use_conv", False):
            return None
        return TokenGeometry(0, _ceil(size, _pair(stride)), (), f"timm {kind}: stem stride {stride}")
    embed = getattr(model, "patch_embed", None) or getattr(model, "stem", None)
    flattened = getattr(embed, "flatten", False) or (  # (a dynamic_img_size ViT flattens after its pos embedding)
        getattr(model, "dynamic_img_size", False) and hasattr(model, "num_prefix_tokens"))
    if embed is None or not flattened or not hasattr(embed, "dynamic_feat_size"):
        return None  # no patch embedding, or one that keeps maps (Swin: NHWC)
    grid = _pair(embed.dynamic_feat_size(size))
    prefix = int(getattr(model, "num_prefix_tokens", 0) or 0)
    names: list[str] = []
    for attribute, word in (("cls_token", "CLS"), ("reg_token", "register"), ("dist_token", "distillation")):
        tokens = getattr(model, attribute, None)
        if isinstance(tokens, nn.Parameter):
            count = int(tokens.shape[1])
            names += [word] if word != "register" else [f"register {i + 1}" for i in range(count)]
    names = names if len(names) == prefix else [f"token {i}" for i in range(prefix)]
    what = f"num_prefix_tokens {prefix}" if hasattr(model, "num_prefix_tokens") else "no prefix tokens"
    return TokenGeometry(prefix, grid, tuple(names), f"timm {kind}: {what}, {type(embed).__name__} grid")


# -- torchvision ------------------------------------------------------------------------------------------
def _torchvision(model: nn.Module, size: tuple[int, int]) -> Optional[TokenGeometry]:
    if type(model).__module__ != "torchvision.models.vision_transformer":
        return None
    patch = int(model.patch_size)
    return TokenGeometry(1, _floor(size, (patch, patch)), ("CLS",),
                         f"torchvision VisionTransformer: class_token, patch_size {patch}")
