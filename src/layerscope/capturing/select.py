"""Turn layer selectors (names, globs, regexes, module types) into dotted module names.

>>> import torch.nn as nn
>>> m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
>>> select_layers(m, "type:Conv2d")
['0', '2']
>>> select_layers(m, ["re:[12]", "0"])
['0', '1', '2']
>>> select_layers(m), select_layers(m, "convs")  # by default, what follows each conv's norm and activation
(['1', '2'], ['0', '2'])
"""

from __future__ import annotations

import fnmatch
import re
from typing import Iterable, Optional, Sequence, Union

import torch.nn as nn

from ..errors import InputError, LayerNotFoundError, did_you_mean
from .anatomy import Anatomy, anatomy
from .reading import CONV_TYPES, read_points
from .tokens import token_geometry

__all__ = ["default_layers", "select_layers", "selected_modules", "all_modules", "LayerSelector", "DEFAULT_TYPES"]

LayerSelector = Union[None, str, Sequence[str]]

DEFAULT_TYPES = CONV_TYPES  # what the named selector "convs" picks (raw convolution outputs)
_GLOB_CHARS = set("*?[")
_LISTER_HINT = "Run `layerscope layers MODEL` (or layerscope.list_layers(model)) to see every name."


def _is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


def all_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Dotted name -> module, every path to a module reachable by several names (the root, "", left out).

    The order of ``named_modules(remove_duplicate=False)``; read from the walk kept for the model
    (:mod:`~layerscope.capturing.anatomy`), and a copy of it.

    >>> list(all_modules(nn.Sequential(nn.Sequential(nn.ReLU()), nn.ReLU())))
    ['0', '0.0', '1']
    """
    return dict(anatomy(model).named)


def _unique(names: Iterable[str], named: dict[str, nn.Module]) -> list[str]:
    """``names`` in model order, one name per module object (the first path to it)."""
    seen: set[int] = set()
    unique = []
    for name in names:
        if id(named[name]) not in seen:
            seen.add(id(named[name]))
            unique.append(name)
    return unique


def _type_matches(module: nn.Module, type_name: str) -> bool:
    for cls in type(module).__mro__:
        if cls.__name__ == type_name or f"{cls.__module__}.{cls.__qualname__}" == type_name:
            return True
    return False


def _not_found(what: str, candidates: Iterable[str], kind: str = "layer") -> LayerNotFoundError:
    return LayerNotFoundError(f"No {kind} matches {what!r}.{did_you_mean(what, candidates)} {_LISTER_HINT}")


def _match_one(selector: str, named: dict[str, nn.Module]) -> list[str]:
    if not isinstance(selector, str) or not selector.strip():
        raise InputError(f"Layer selector {selector!r} must be a non-empty string. {_LISTER_HINT}")
    selector = selector.strip()
    if selector in named:  # an exact name wins, even one with glob characters (ModuleDict keys like "x[0]")
        return [selector]
    if selector == "all":
        return [n for n, m in named.items() if _is_leaf(m)]
    if selector == "convs":
        return [n for n, m in named.items() if isinstance(m, DEFAULT_TYPES)]
    if selector.startswith("type:"):
        type_name = selector[5:]
        found = [n for n, m in named.items() if _type_matches(m, type_name)]
        if not found:
            types = sorted({type(m).__name__ for m in named.values()})
            raise _not_found(type_name, types, kind="module type")
        return found
    if selector.startswith("re:"):
        try:
            pattern = re.compile(selector[3:])
        except re.error as err:
            raise InputError(f"Layer regex {selector[3:]!r} is invalid: {err}.") from None
        found = [n for n in named if pattern.fullmatch(n)]
        if not found:
            raise _not_found(selector[3:], named)
        return found
    if _GLOB_CHARS & set(selector):
        found = [n for n in named if fnmatch.fnmatchcase(n, selector)]
        if not found:
            raise _not_found(selector, named)
        return found
    raise _not_found(selector, named)


def select_layers(model: nn.Module, layers: LayerSelector = None) -> list[str]:
    """Dotted names of the modules selected by ``layers``, in ``named_modules`` order.

    ``layers`` is ``None`` (the default layers: for token models the block outputs, see
    :func:`default_layers`; else what follows each convolution's normalization and activation,
    see :func:`~layerscope.capturing.reading.read_points`: the activation module, a ResNet
    block's output where its activation is shared; every leaf module when the model has no
    convolution), ``"all"`` (every leaf module), ``"convs"`` (every Conv1d/2d/3d: the raw
    convolution outputs, before normalization), an exact dotted
    name, a glob (``"features.*"``), a regex (``"re:layer[34]\\..*"``), a module
    type (``"type:Conv2d"``), or a list mixing these. A selector that matches
    nothing raises :class:`LayerNotFoundError` with the closest names.

    >>> import torchvision
    >>> select_layers(torchvision.models.resnet18())[:3]
    ['relu', 'layer1.0', 'layer1.1']
    """
    return list(selected_modules(model, layers))


def selected_modules(
    model: nn.Module, layers: LayerSelector = None, body: Optional[Anatomy] = None
) -> dict[str, nn.Module]:
    """:func:`select_layers` with the module of each name (resolved once per model tree and selector).

    ``body``: the model's :class:`~layerscope.capturing.anatomy.Anatomy`, when the caller just made it.
    """
    body = anatomy(model) if body is None else body
    key = tuple(layers) if isinstance(layers, list) else layers
    try:
        return dict(body.selections[key])
    except (KeyError, TypeError):  # not resolved yet, or a selector that cannot be a key (it will be refused)
        pass
    found = _select(model, layers, body.named)
    if all(m is not model for m in found.values()):  # (kept weakly for its model, the walk must not hold the model)
        try:
            body.selections[key] = found
        except TypeError:
            pass
    return dict(found)


def _select(model: nn.Module, layers: LayerSelector, everything: dict[str, nn.Module]) -> dict[str, nn.Module]:
    if not everything:
        return {"": model}  # a bare module (e.g. a single nn.Conv2d): capture its own output
    if layers is None:
        blocks = default_layers(model)
        if blocks:
            return {n: everything[n] for n in blocks}
        first = set(_unique(everything, everything))  # one name per module object
        named = {n: m for n, m in everything.items() if n in first}
        points = set(read_points(model).values())
        found = {n: m for n, m in named.items() if n in points}
        found = found or {n: m for n, m in named.items() if isinstance(m, DEFAULT_TYPES)}
        return found or {n: m for n, m in named.items() if _is_leaf(m)}
    if isinstance(layers, str):
        whole = layers in everything or layers.startswith("re:") or "," not in layers
        layers = [layers] if whole else layers.split(",")
    if not isinstance(layers, (list, tuple)) or not layers:
        raise InputError(
            f"layers={layers!r} selects nothing: pass None (the default layers), a name, a pattern "
            f"or a non-empty list of them. {_LISTER_HINT}"
        )
    chosen: set[str] = set()
    for selector in layers:
        chosen.update(_match_one(selector, everything))
    return {n: everything[n] for n in _unique([n for n in everything if n in chosen], everything)}


def default_layers(module: nn.Module) -> Optional[list[str]]:
    """For token models (ViT, Swin, MLP-Mixer, LeViT, hybrids ...): the output of every block; None for others.

    A model is a token model here when it emits tokens by its own description
    (:func:`~layerscope.capturing.tokens.token_geometry`: Hugging Face, timm and torchvision ViTs,
    hybrids with a convolutional stem, MLP-Mixer, gMLP, ResMLP, LeViT, SegFormer) or has at most one
    convolution (the patch embedding: Swin). Its blocks are the children of the innermost
    ``ModuleList`` / ``Sequential`` containers whose children are of one type and mix tokens (hold an
    attention module, or a token-mixing one: ``mlp_tokens``, ``linear_tokens``, a spatial gating
    unit) and hold blocks of the type of the longest such stack: every block of every stage of a
    hierarchical model, not a decoder's of another type. A text tower's blocks are left out.

    >>> import torchvision
    >>> default_layers(torchvision.models.vit_b_16())[:2]
    ['encoder.layers.encoder_layer_0', 'encoder.layers.encoder_layer_1']
    >>> default_layers(torchvision.models.resnet18()) is None
    True
    """
    geometry = token_geometry(module, (224, 224))
    tokens = geometry is not None and not geometry.queries  # (a DETR's backbone is its own: its layers' defaults)
    if not tokens and sum(isinstance(m, CONV_TYPES) for m in module.modules()) > 1:
        return None
    containers: dict[str, list[str]] = {}
    for name, container in module.named_modules():
        if not isinstance(container, (nn.ModuleList, nn.Sequential)) or _in_text_tower(name):
            continue
        children = list(container.named_children())
        kinds = {type(child) for _, child in children}
        if len(children) >= (1 if tokens else 2) and len(kinds) == 1 and _mixes_tokens(children[0][1]):
            containers[name] = [f"{name}.{child}" if name else child for child, _ in children]
    inner = [name for name in containers
             if not any(other != name and other.startswith(f"{name}.") for other in containers)]
    if not inner:
        return None
    named = dict(module.named_modules())
    kind = type(named[containers[max(inner, key=lambda n: len(containers[n]))][0]])  # the longest stack's blocks
    blocks = [block for name in inner for block in containers[name] if type(named[block]) is kind]
    return blocks or None


def _in_text_tower(name: str) -> bool:
    return any(part.startswith("text") for part in name.split("."))


def _mixes_tokens(block: nn.Module) -> bool:
    """Whether a block mixes tokens: an attention module, or an MLP across tokens (Mixer, ResMLP, gMLP)."""
    for name, m in block.named_modules():
        last, kind = name.rsplit(".", 1)[-1], type(m).__name__
        if "attention" in kind.lower() or last in ("attn", "self_attention") or "tokens" in last or (
                "SpatialGating" in kind):
            return True
    return False
