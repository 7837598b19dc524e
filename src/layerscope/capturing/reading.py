"""Where a convolution is read: the output that follows its normalization and activation, found statically.

>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8))
>>> read_points(model)
{'0': '2', '3': '4'}

A raw convolution output comes before BatchNorm: it has no dead or saturated channels, and
its scale is whatever the next normalization undoes. What a practitioner reads is the output
after ``conv -> norm -> activation``. For each convolution this module finds it from the
module tree alone (no forward, so no input is needed), walking the siblings that follow the
convolution in registration order, the order in which ``Sequential`` runs them and in which
torchvision and timm register the modules of a block:

- the activation module after its normalization (``conv, bn, relu`` -> ``relu``), or after the
  convolution itself when there is no normalization (VGG: ``conv, relu`` -> ``relu``);
- a normalization that applies its activation itself (timm's ``BatchNormAct2d``) is read as is;
- else the normalization's output, else the convolution's own;
- a container that ends the run (``Conv2dNormActivation`` ending in a BatchNorm) hands the walk
  to its parent, which goes on after the container (RegNet's block ``activation``);
- modules that pass values on unchanged in eval mode (``Identity``, dropouts, ``DropPath``,
  ``StochasticDepth``) are stepped over.

An activation module called on several convolutions' outputs (torchvision's ResNet blocks have
one ``relu`` for ``bn1``, and for ``bn2`` after the residual sum) is read once per block: where
a block (not the model itself) holds fewer activation modules than convolutions, or an activation
ends the runs of two convolutions, the block's output stands for its convolutions, except those
with an activation of their own deeper down (``layer1.0`` for ``conv1``, ``conv2`` and
``downsample.0``).

A ``Conv1d`` is read at its normalization at most: a 3-D activation output is told from tokens by
the module type that made it (:mod:`layerscope.core.layout`), and an activation's type does not say.

Convolutions inside a gate (a module that ends in a sigmoid: squeeze-and-excitation, ECA) compute
channel weights, not feature maps, and have no read point.

A convolution whose normalization is a channels-last ``LayerNorm`` (ConvNeXt blocks in Hugging Face
and timm: ``dwconv``, permute, ``LayerNorm``, MLP, permute back) is read at its block's output, the
block's own NCHW map, as torchvision's ConvNeXt block is.
"""

from __future__ import annotations

import re
from typing import Optional

import torch.nn as nn

from .anatomy import anatomy

__all__ = ["read_points", "CONV_TYPES"]

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORM = re.compile(r"Norm(Act)?(\d+d)?$")  # BatchNorm2d, GroupNorm, LayerNorm2d, BatchNormAct2d, FrozenBatchNorm2d
_PASS = re.compile(r"(Identity|(Alpha|FeatureAlpha)?Dropout(\d+d)?|DropPath|DropBlock(\d+d)?|StochasticDepth)$")
_NOT_ACTIVATION = {"MultiheadAttention", "Softmax", "Softmin", "LogSoftmax", "Softmax2d", "Identity"}
_ACTIVATION_NAME = re.compile(r"ReLU|GELU|SiLU|Swish|Mish|ELU|Sigmoid|Tanh|Softplus|Hardtanh", re.IGNORECASE)
_GATE = re.compile(r"sigmoid", re.IGNORECASE)


def _classes(module: nn.Module) -> list[type]:
    return [cls for cls in type(module).__mro__ if cls not in (nn.Module, object)]


def _is_norm(module: nn.Module) -> bool:
    return any(_NORM.search(cls.__name__) for cls in _classes(module))


def _is_activation(module: nn.Module) -> bool:
    if module._modules or type(module).__name__ in _NOT_ACTIVATION:
        return False
    return any("activation" in cls.__module__ or _ACTIVATION_NAME.search(cls.__name__) for cls in _classes(module))


def _passes(module: nn.Module) -> bool:
    return _PASS.match(type(module).__name__) is not None


def _norm_acts(module: nn.Module) -> bool:
    """A normalization that applies its own activation (timm's ``BatchNormAct2d`` with ``act`` not Identity)."""
    return any(_is_activation(child) for child in module.children())


def read_points(model: nn.Module) -> dict[str, str]:
    """Each convolution's dotted name -> the name of the module whose output stands for it, in model order.

    A ``Conv1d`` is read at its normalization at most: a 3-D activation output is told from tokens by
the module type that made it (:mod:`layerscope.core.layout`), and an activation's type does not say.

Convolutions inside a gate are left out; a model without convolutions gives ``{}``.

    >>> import torchvision
    >>> points = read_points(torchvision.models.resnet18())
    >>> points["conv1"], points["layer1.0.conv2"], points["layer2.0.downsample.0"]
    ('relu', 'layer1.0', 'layer2.0')
    """
    named = anatomy(model).named
    first: dict[int, str] = {}
    for name, module in named.items():
        first.setdefault(id(module), name)
    modules = {name: named[name] for name in first.values()}  # one name per module object
    kids: dict[str, list[str]] = {}
    for name in modules:
        kids.setdefault(name.rpartition(".")[0], []).append(name)
    gates = {parent for parent, names in kids.items()
             if parent and _is_activation(modules[names[-1]]) and _GATE.search(type(modules[names[-1]]).__name__)}
    convs = [n for n, m in modules.items() if isinstance(m, CONV_TYPES) and n.rpartition(".")[0] not in gates]
    base = {conv: _run_end(conv, modules, kids) for conv in convs}
    blocks = _shared_blocks(base, modules, kids, gates)
    points = {}
    for conv, end in base.items():
        block = next((b for b in _ancestors(conv) if b in blocks), None)
        if block is None and end == conv:  # no norm, no activation after it: its block's output, if that has one
            block = next((b for b in _ancestors(conv) if not _chains(modules[b])), None)
            if block is not None and not any(_is_activation(modules[n]) and not _in(n, gates)
                                             for n in modules if n.startswith(block + ".")):
                block = None
        own = _is_activation(modules[end]) or (_is_norm(modules[end]) and _norm_acts(modules[end]))
        if block is not None and not (own and end.startswith(block + ".") and end.rpartition(".")[0] != block):
            end = block
        if _channels_last(modules[end]) and isinstance(modules[conv], nn.Conv2d) and conv.rpartition(".")[0]:
            end = conv.rpartition(".")[0]  # the block permuted to channels-last (ConvNeXt): its NCHW output
        points[conv] = end
    return points


def _channels_last(module: nn.Module) -> bool:
    """A LayerNorm over the last dim of a 4-D map (HF ``ConvNextLayerNorm`` channels_last, timm's ``LayerNorm``),
    not one that permutes for itself (``LayerNorm2d``, ``data_format="channels_first"``)."""
    form = getattr(module, "data_format", None)
    if form is not None:
        return str(form) == "channels_last"
    return isinstance(module, nn.LayerNorm) and not type(module).__name__.endswith("2d")


def _in(name: str, containers: set[str]) -> bool:
    return any(a in containers for a in _ancestors(name))


def _ancestors(name: str) -> list[str]:
    """``'a.b.c'`` -> ``['a.b', 'a']``: the containers of a module, nearest first (the model itself left out)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def _chains(module: nn.Module) -> bool:
    """Whether ``module``'s output is its last child's (it runs as ``nn.Sequential`` does)."""
    return type(module).forward is nn.Sequential.forward


def _next(name: str, kids: dict[str, list[str]], modules: dict[str, nn.Module]) -> Optional[str]:
    """The next sibling that changes values (pass-through modules stepped over); at the end of a ``Sequential``,
    the container's own next sibling; None at the end of any other module."""
    while True:
        parent = name.rpartition(".")[0]
        siblings = kids[parent]
        after = [s for s in siblings[siblings.index(name) + 1:] if not _passes(modules[s])]
        if after:
            return after[0]
        if not parent or not _chains(modules[parent]):
            return None
        name = parent


def _run_end(conv: str, modules: dict[str, nn.Module], kids: dict[str, list[str]]) -> str:
    """The last module of ``conv -> [norm] -> [activation]`` among the modules that follow ``conv``."""
    end = conv
    follower = _next(conv, kids, modules)
    if follower is not None and _is_norm(modules[follower]):
        end = follower
        if _norm_acts(modules[follower]):
            return end
        follower = _next(follower, kids, modules)
    if follower is not None and _is_activation(modules[follower]) and not isinstance(modules[conv], nn.Conv1d):
        end = follower  # (a Conv1d's (N, C, L) output is told from tokens by its module type: not an activation's)
    return end


def _shared_blocks(base: dict[str, str], modules: dict[str, nn.Module], kids: dict[str, list[str]],
                   gates: set[str]) -> set[str]:
    """Containers whose activation module is called on several convolutions' outputs (read at their output)."""
    blocks = set()
    for parent, names in kids.items():
        if not parent or parent in gates:
            continue
        convs = sum(isinstance(modules[n], CONV_TYPES) for n in names)
        acts = sum(_is_activation(modules[n]) for n in names)
        if 0 < acts < convs:
            blocks.add(parent)
    ends = [end for end in base.values() if _is_activation(modules[end])]
    for end in set(ends):
        parent = end.rpartition(".")[0]
        if ends.count(end) > 1 and parent:
            blocks.add(parent)
    return blocks
