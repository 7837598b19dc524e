"""Channel importance for a prediction: gradient x activation per channel, several layers in one backward.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.Flatten(), nn.Linear(8, 2, bias=False))
>>> with torch.no_grad():
...     _ = model[0].weight.copy_(torch.tensor([[[[1.0]]], [[[2.0]]]])), model[2].weight.fill_(1.0)
>>> result = importance(model, torch.ones(1, 1, 2, 2), layers="0", target=0)
>>> result["0"].tolist(), result.weights["0"].tolist()   # sum of grad x act; mean gradient per channel
([[4.0, 8.0]], [[1.0, 1.0]])

For a chosen score (a class index per input, or the top prediction; or any target of
:mod:`~layerscope.explain.targets`: a detection box, a segmentation region, an embedding, a
function of the output), each channel ``c`` of a
layer with activation ``A`` gets ``sum over positions of dA(score) * A`` (gradient x activation,
the channel's first-order contribution to the score) and ``mean over positions of dA(score)``
(the weights behind Grad-CAM). The activations are the layer's true outputs, also where a later
in-place op (``ReLU(inplace=True)``, ``+=``) overwrites them: each selected output is handed on
as a copy, so the original stays as the layer produced it and the gradient is taken with
respect to it. Token layouts (ViT blocks) work through :func:`layerscope.core.layout.to_maps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..capturing import ModelState, call_model, model_device, select_layers
from ..capturing.call import move_inputs
from ..core.layout import TokenGeometry, to_maps
from ..errors import InputError, LayerNotFoundError, did_you_mean
from ..io.feed import Feed
from ..run.maps import LayerMaps
from ..run.subject import Subject
from .targets import Class, Target, as_target

__all__ = ["importance", "Importance"]


@dataclass
class Importance:
    """Per layer a ``[batch, channels]`` tensor of gradient x activation (``result[layer]``), the
    gradient means (``weights``), the class per input (``target``; -1 where the target is not a class), the
    target explained (``goal``) and its score per input (``value``)."""

    scores: dict[str, torch.Tensor]
    weights: dict[str, torch.Tensor]
    activations: dict[str, torch.Tensor]
    target: torch.Tensor
    output: Any  # the model's output (its logits where it has them), detached
    layouts: dict[str, str] = field(default_factory=dict)
    goal: Target = field(default_factory=Class)
    value: Optional[torch.Tensor] = None

    def __getitem__(self, layer: str) -> torch.Tensor:
        if layer not in self.scores:
            raise LayerNotFoundError(f"No importance for layer {layer!r}.{did_you_mean(layer, self.scores)}")
        return self.scores[layer]

    def __iter__(self):
        return iter(self.scores)

    def top(self, layer: str, k: int = 8) -> torch.Tensor:
        """The ``k`` most important channels of ``layer`` per input, ``[batch, k]`` indices."""
        return self[layer].topk(min(k, self[layer].shape[1]), dim=1).indices

    def heatmap(self, layer: str, k: Optional[int] = None) -> torch.Tensor:
        """Grad-CAM style map ``[batch, H, W]``: ReLU of the weighted sum of the (top ``k``) channels' maps."""
        weights, maps = self.weights[layer], self.activations[layer]
        if k is not None:
            keep = torch.zeros_like(weights).scatter_(1, self.top(layer, k), 1.0)
            weights = weights * keep
        return torch.relu(torch.einsum("nc,nchw->nhw", weights, maps))

    def __repr__(self) -> str:
        layers = ", ".join(f"{name} ({t.shape[1]} channels)" for name, t in self.scores.items())
        target = self.target.tolist() if isinstance(self.goal, Class) else self.goal.describe()
        return f"Importance(target {target}: {layers})"


def importance(
    model: Any,
    inputs: Any,
    layers: Any = None,
    *,
    target: Any = None,
    preprocessing: Any = None,
    layouts: Optional[dict[str, str]] = None,
) -> Importance:
    """Channel importance of ``layers`` (default: the default layers) for ``target`` (default: top class).

    ``target``: what :func:`~layerscope.explain.targets.as_target` takes (a class index or name, one per
    input, a callable on the output returning one score per input, a ``Box``, ``Mask`` or ``Embedding``,
    or a CLI string such as ``"box:10,10,50,60"``); class names are the model's.

    ``model`` (a :class:`~layerscope.run.Subject` too: its layouts are used unless ``layouts`` is given),
    ``inputs`` and ``layers`` as in :func:`layerscope.capture`. One forward and one
    backward for all layers; the model's parameters get no gradient and it is left as it was.
    """
    subject = Subject.of(model, preprocessing=preprocessing)
    loaded, module = subject.loaded, subject.module
    layouts = subject.layouts if layouts is None else layouts
    batch = move_inputs(Feed(inputs, loaded.preprocessing, strict=True).one(), *model_device(module))
    names = select_layers(module, layers)
    goal = as_target(target, loaded.classes)
    size = tuple(batch.shape[-2:]) if isinstance(batch, torch.Tensor) and batch.dim() >= 3 else None
    kept: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(mod, args, output):
            if not isinstance(output, torch.Tensor):
                raise InputError(f"layer {name!r} returns {type(output).__name__}, not a tensor; choose a layer "
                                 "whose output is one tensor (see `layerscope layers MODEL`).")
            if name not in kept:  # the first call of a shared module
                if not output.requires_grad and output.is_floating_point():  # frozen above (DETR's backbone)
                    output = output.detach().requires_grad_(True)
                kept[name] = output
                return output.clone()  # later in-place ops write the copy; the gradient is taken at the original
            return None

        return hook

    with ModelState(module) as state:
        for name in names:
            state.hook(module.get_submodule(name), keep(name))
        with state.forward(), torch.inference_mode(False), torch.enable_grad():
            output = call_model(module, batch, grad=True)
            value = goal.score(output, size)
            if not value.requires_grad:
                raise InputError(f"The score of {goal.describe()} does not depend on the model's output (no "
                                 "gradient); a target function must compute its score from the output it is given.")
            grads = torch.autograd.grad(value.sum(), [kept[n] for n in names], allow_unused=True)
    types = {name: type(module.get_submodule(name)).__name__ for name in names}
    chosen = goal.indices(output) if isinstance(goal, Class) else torch.full((len(value),), -1)
    logits = getattr(output, "logits", output)
    logits = logits.detach() if isinstance(logits, torch.Tensor) else output
    geometry = subject.tokens(size) if size is not None else None  # the model's prefix tokens and patch grid
    scores, weights, acts, used = _result(names, kept, grads, LayerMaps(layouts), types, size, geometry)
    return Importance(scores, weights, acts, chosen.detach(), logits, used, goal, value.detach())


def _as_maps(reader: LayerMaps, name: str, act: torch.Tensor, grad: torch.Tensor, module_type: str,
             size: Optional[tuple], geometry: Optional[TokenGeometry]):
    """``(activation maps, gradient maps, layout)``, both (N, C, H, W) read the same way: a token layer with
    the model's prefix tokens and patch grid (``geometry``), its prefix tokens left out (as show draws them
    apart, they are no positions of the grid)."""
    if act.dim() == 2 and reader.layouts.get(name) in (None, "NC"):  # a vector: one "channel" per unit
        return act[:, :, None, None], grad[:, :, None, None], "NC"
    record = {"module_type": module_type, **({"tokens": geometry.to_dict()} if geometry and act.dim() == 3 else {})}
    maps = reader.maps(name, act, record, size)
    if maps is None:
        raise InputError(f"No importance for layer {name!r}: {reader.skipped[name]}")
    if maps.tokens is not None:  # the same prefix and grid (a sequence of the same length fits the same way)
        gmaps = to_maps(grad, layout=maps.layout, input_size=size, module_type=module_type, tokens=maps.tokens)
    else:
        gmaps = to_maps(grad, layout=maps.layout, input_size=size, extra_tokens=maps.extra_tokens,
                        module_type=module_type)
    return maps.maps, gmaps.maps, maps.layout


def _result(names, kept, grads, reader: LayerMaps, types, size, geometry):
    scores, weights, acts, used = {}, {}, {}, {}
    for name, grad in zip(names, grads):
        act = kept[name].detach()
        grad = torch.zeros_like(act) if grad is None else grad.detach()
        maps, gmaps, used[name] = _as_maps(reader, name, act, grad, types[name], size, geometry)
        scores[name] = (gmaps * maps).flatten(2).sum(2)
        weights[name] = gmaps.flatten(2).mean(2)
        acts[name] = maps
    return scores, weights, acts, used
