"""Attention maps of ViT-style models (Hugging Face ``transformers`` and timm): where a token looks, per layer and head.

>>> import torch, timm
>>> model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_classes=3).eval()
>>> found = attention_maps(model, torch.rand(2, 3, 32, 32), rollout=True)
>>> found.layers, tuple(found["blocks.1.attn"].shape), found.grid, found.prefix
(['blocks.0.attn', 'blocks.1.attn'], (2, 1, 4, 4), (4, 4), 1)
>>> tuple(attention_maps(model, torch.rand(1, 3, 32, 32), heads="all")["blocks.0.attn"].shape)
(1, 3, 4, 4)
>>> tuple(found.rollout.shape), torch.equal(found.rollouts["blocks.1.attn"], found.rollout)  # up to the last layer
((2, 1, 4, 4), True)

For each attention layer, the softmax attention ``A = softmax(q kᵀ · scale)`` (N, heads, T, T) is
read for one call, and the row of ``token`` (the CLS token by default, or a token index) is kept
over the patch tokens (the prefix tokens -- CLS, distillation, registers -- dropped), laid out on the
patch grid: ``(N, heads, h, w)``, or ``(N, 1, h, w)`` averaged over heads (``heads="mean"``).

Attention rollout (Abnar & Zuidema 2020), ``rollout=True``: per layer ``A' = 0.5 · mean_heads(A) + 0.5 · I``
with rows renormalized, multiplied through all attention layers (first layer on the right), in
float64; the row of ``token`` over the patches is :attr:`AttentionMaps.rollout` ``(N, 1, h, w)``, and the
rollout up to and including each chosen layer :attr:`AttentionMaps.rollouts` ``[layer]``.

How the attention is read, without changing the model: a Hugging Face model's attention modules
(those its ``_can_record_outputs["attentions"]`` names) run with eager attention for this call only
(their config's implementation is put back in ``finally``) and their returned weights are hooked;
a timm ``Attention`` (fused or not) has its queries and keys hooked after ``q_norm`` / ``k_norm``
and the softmax is recomputed. Hooks, train/eval modes and buffers are restored also when the
forward raises.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import nn

from ..capturing import ModelState, call_model, model_device, select_layers
from ..capturing.call import move_inputs
from ..capturing.tokens import token_geometry
from ..core.layout import TokenGeometry, token_grid
from ..errors import InputError, LayerNotFoundError, did_you_mean
from ..io.feed import Feed
from ..render.views import VIEWS
from ..run.subject import Subject

__all__ = ["attention_maps", "AttentionMaps", "attention_layers", "rollout_of", "wants_attention", "layer_attention"]

HEADS = ("mean", "all")
_ABSENT = object()


@dataclass
class AttentionMaps:
    """The attention from one token to the patch grid: ``result[layer]`` is ``(N, heads or 1, h, w)``.

    ``layers``: the attention modules, shallow to deep; ``rollout``: ``(N, 1, h, w)`` or None;
    ``rollouts``: per layer the rollout up to and including it (the last one's is ``rollout``);
    ``token``: the index of the query token in the sequence; ``prefix``: tokens before the
    patches (CLS, distillation, registers; named in ``prefix_names`` where the model says,
    :func:`~layerscope.capturing.tokens.token_geometry`); ``grid``: ``(h, w)``; ``heads``: ``"mean"``
    or ``"all"``; ``source``: how it was read per layer (``"eager"``: the model's own weights, ``"qk"``:
    recomputed).
    """

    maps: dict[str, torch.Tensor]
    rollout: Optional[torch.Tensor]
    token: int
    prefix: int
    grid: tuple[int, int]
    heads: str
    source: dict[str, str] = field(default_factory=dict)
    prefix_names: tuple[str, ...] = ()
    rollouts: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        return list(self.maps)

    def __getitem__(self, layer: str) -> torch.Tensor:
        if layer not in self.maps:
            raise LayerNotFoundError(f"No attention map for layer {layer!r}.{did_you_mean(layer, self.maps)} "
                                     f"Attention layers: {', '.join(self.maps)}.")
        return self.maps[layer]

    def __iter__(self):
        return iter(self.maps)

    def __len__(self) -> int:
        return len(self.maps)

    def of(self, layer: str, *, rollout: bool = False) -> Optional[torch.Tensor]:
        """The map (``rollout``: the rollout up to it) of the attention module ``layer`` names: itself, the one
        inside it (a block), or the one it is inside (``blocks.3.attn.qkv``); None when there is none or more than
        one inside it, or no rollout was asked for."""
        found = self.maps if not rollout else self.rollouts
        if layer in found:
            return found[layer]
        inside = [name for name in found if name.startswith(layer + ".") or not layer]
        if len(inside) == 1:
            return found[inside[0]]
        around = [name for name in found if layer.startswith(name + ".")]
        return found[around[-1]] if around else None

    def __repr__(self) -> str:
        h, w = self.grid
        return (f"AttentionMaps({len(self.maps)} layers, token {self.token}, {self.prefix} prefix tokens, "
                f"{h}x{w} grid, heads={self.heads}{', with rollout' if self.rollout is not None else ''})")


def _hf_attention_classes(model: nn.Module) -> dict[type, int]:
    """The classes the Hugging Face models inside ``model`` record ``attentions`` from, with the index of the
    weights in their output (1 unless an ``OutputRecorder`` says otherwise, as transformers reads them)."""
    found: dict[type, int] = {}
    for module in model.modules():
        spec = (getattr(type(module), "_can_record_outputs", None) or {}).get("attentions")
        for entry in spec if isinstance(spec, (list, tuple)) else [spec]:
            cls = getattr(entry, "target_class", entry)
            if isinstance(cls, type):
                found.setdefault(cls, int(getattr(entry, "index", 1)) if cls is not entry else 1)
    return found


def _timm_attention_class() -> Optional[type]:
    layers = sys.modules.get("timm.layers")  # a timm model means timm is imported; never import it here
    return getattr(layers, "Attention", None) if layers is not None else None


def _kinds(model: nn.Module) -> dict[str, tuple[str, int]]:
    """Every attention module of ``model`` that can be read, in module order: name -> ``("hf", index of the weights
    in its output)`` or ``("timm", 0)``."""
    hf, timm = _hf_attention_classes(model), _timm_attention_class()
    kinds = {}
    for name, module in model.named_modules():
        index = next((i for cls, i in hf.items() if isinstance(module, cls)), None)
        if index is not None and getattr(module, "config", None) is not None:
            kinds[name] = ("hf", index)
        elif timm is not None and isinstance(module, timm) and hasattr(module, "q_norm"):
            kinds[name] = ("timm", 0)
    return kinds


def attention_layers(model: nn.Module, layers: Any = None) -> list[str]:
    """The attention modules of ``model`` that :func:`attention_maps` reads, shallow to deep; ``layers`` (names or
    patterns as :func:`~layerscope.capturing.select_layers`) picks among them: an attention module, the one inside a
    block, or the one around a submodule (``blocks.0.attn.qkv``).

    >>> import timm
    >>> model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=3, num_classes=3)
    >>> attention_layers(model), attention_layers(model, "blocks.2")
    (['blocks.0.attn', 'blocks.1.attn', 'blocks.2.attn'], ['blocks.2.attn'])
    """
    kinds = _kinds(model)
    if not kinds:
        raise InputError(f"{type(model).__name__} has no attention layers layerscope can read: attention maps "
                         "need a Hugging Face ViT-style model (ViT, DeiT, DINOv2 ...) or a timm ViT "
                         "(timm.layers.Attention).")
    if layers is None:
        return list(kinds)
    chosen: list[str] = []
    for name in select_layers(model, layers):
        inside = [a for a in kinds if a == name or a.startswith(name + ".") or name.startswith(a + ".") or not name]
        if not inside:
            raise InputError(f"Layer {name!r} has no attention module in or around it; attention layers: "
                             f"{', '.join(kinds)}.")
        chosen += [a for a in inside if a not in chosen]
    return [a for a in kinds if a in chosen]


def rollout_of(attentions: Sequence[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) of per-layer attention ``(N, heads, T, T)``, shallow to deep:
    ``(N, T, T)`` in float64.

    >>> a = torch.tensor([[[[0.5, 0.5], [0.0, 1.0]]]])
    >>> rollout_of([a, a])[0].tolist()
    [[0.5625, 0.4375], [0.0, 1.0]]
    """
    result: Optional[torch.Tensor] = None
    for attention in attentions:
        mean = attention.double().mean(1)
        step = 0.5 * mean + 0.5 * torch.eye(mean.shape[-1], dtype=mean.dtype, device=mean.device)
        step = step / step.sum(-1, keepdim=True)
        result = step if result is None else step @ result
    if result is None:
        raise InputError("rollout needs at least one attention layer.")
    return result


def _geometry(own: Optional[TokenGeometry], tokens: int, input_size: tuple[int, int]) -> TokenGeometry:
    """The prefix tokens and patch grid of a sequence of ``tokens`` for an input of ``input_size``: the model's own
    (``own``, from :func:`~layerscope.capturing.tokens.token_geometry`), else the guess of
    :func:`~layerscope.core.layout.token_grid`."""
    found = own.fit(tokens) if own is not None else token_grid(tokens, input_size)
    if found is None:
        raise InputError(f"Cannot lay out {tokens} tokens on a patch grid of the {input_size[0]}x{input_size[1]} "
                         "input; attention maps need prefix tokens + h*w patches.")
    prefix, rows, cols = found
    if own is not None and prefix == own.prefix:
        return TokenGeometry(prefix, (rows, cols), own.prefix_names, own.source)
    return TokenGeometry(prefix, (rows, cols), (), "guessed from the number of tokens and the input size")


class _Reader:
    """Hooks one attention module and hands each call's attention ``(N, heads, T, T)`` to ``take``."""

    def __init__(self, name: str, module: Any, kind: tuple[str, int], take: Callable[[str, torch.Tensor], None]):
        self.name, self.module, self.take = name, module, take
        self.kind, self.index = kind
        self.q: Optional[torch.Tensor] = None

    def install(self, state: ModelState) -> None:
        if self.kind == "hf":
            state.hook(self.module, self._weights)
        else:
            state.hook(self.module.q_norm, self._query)
            state.hook(self.module.k_norm, self._key)

    def _weights(self, module: nn.Module, args: Any, output: Any) -> None:
        weights = output[self.index] if isinstance(output, (tuple, list)) and len(output) > self.index else None
        if not isinstance(weights, torch.Tensor):
            raise InputError(f"The attention module {self.name!r} returned no attention weights under eager "
                             "attention; this model's attention cannot be read.")
        self.take(self.name, weights.detach())

    def _query(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        self.q = output.detach()

    def _key(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        q, k, self.q = self.q, output.detach(), None
        if q is None:
            return
        scale = float(getattr(self.module, "scale", q.shape[-1] ** -0.5))
        self.take(self.name, ((q * scale) @ k.transpose(-2, -1)).softmax(-1))


class _Eager:
    """The configs of the Hugging Face attention modules, set to eager attention for a block and put back after."""

    def __init__(self, modules: Sequence[Any]) -> None:
        configs = {id(m.config): m.config for m in modules}
        self.configs: list[Any] = list(configs.values())
        self.before: list[Any] = []

    def __enter__(self) -> "_Eager":
        for config in self.configs:
            self.before.append(config.__dict__.get("_attn_implementation_internal", _ABSENT))
            config._attn_implementation_internal = "eager"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for config, before in zip(self.configs, self.before):
            if before is _ABSENT:
                del config._attn_implementation_internal
            else:
                config._attn_implementation_internal = before
        self.before = []


def attention_maps(
    model: Any,
    inputs: Any,
    layers: Any = None,
    *,
    token: Union[str, int] = "cls",
    heads: str = "mean",
    rollout: bool = False,
    preprocessing: Any = None,
) -> AttentionMaps:
    """The attention from ``token`` to the patch grid in each attention layer of a ViT-style ``model`` (see the module).

    ``model``, ``inputs`` as in :func:`layerscope.capture` (one batch); ``layers``: names or patterns of
    attention modules or the blocks around them (default: every attention layer); ``token``: ``"cls"``
    (the CLS token, where the model's prefix tokens put it) or a token index in the sequence; ``heads``:
    ``"mean"`` (N, 1, h, w) or ``"all"`` (N, heads, h, w); ``rollout``: also the attention rollout through all
    attention layers (:attr:`AttentionMaps.rollout`, and up to each chosen layer :attr:`AttentionMaps.rollouts`).
    """
    if heads not in HEADS:
        raise InputError(f"heads={heads!r}; use 'mean' (averaged over heads) or 'all' (one map per head).")
    if not (token == "cls" or (isinstance(token, int) and not isinstance(token, bool))):
        raise InputError(f"token={token!r}; use 'cls' or the index of a token in the sequence (0 is the first).")
    subject = Subject.of(model, preprocessing=preprocessing)
    module = subject.module
    names = attention_layers(module, layers)
    kinds = _kinds(module)
    every = list(kinds) if rollout else names
    batch = move_inputs(Feed(inputs, subject.loaded.preprocessing, strict=True).one(), *model_device(module))
    if not isinstance(batch, torch.Tensor) or batch.dim() != 4:
        raise InputError("attention_maps takes images: (N, C, H, W) tensors or image files.")
    size = (int(batch.shape[-2]), int(batch.shape[-1]))
    own = token_geometry(module, size)
    query = _query(token, own, type(module).__name__)
    rows, rolled, upto, length = _read(module, batch, kinds, every, names, query, rollout)
    geometry = _geometry(own, length, size)
    if token == "cls" and geometry.prefix == 0:
        _no_cls(geometry, type(module).__name__)
    prefix, grid = geometry.prefix, geometry.grid
    maps = {name: _on_grid(rows[name], prefix, grid, heads) for name in names}
    roll = rolled[:, query, prefix:].reshape(-1, 1, *grid) if rolled is not None else None
    rollouts = {name: row[:, None, prefix:].reshape(-1, 1, *grid) for name, row in upto.items()}
    return AttentionMaps(maps, roll, query % length, prefix, grid, heads,
                         {n: "eager" if kinds[n][0] == "hf" else "qk" for n in names}, geometry.prefix_names, rollouts)


_Read = tuple[dict[str, torch.Tensor], Optional[torch.Tensor], dict[str, torch.Tensor], int]


def _read(module: nn.Module, batch: torch.Tensor, kinds: dict[str, tuple[str, int]], every: list[str],
          names: list[str], query: int, rollout: bool) -> _Read:
    """One forward with the attention layers ``every`` read: per layer of ``names`` the row of the token ``query``
    ``(N, heads, T)``, the rollout through ``every`` (or None), per layer of ``names`` the row of ``query`` in the
    rollout up to that layer ``(N, T)``, and the sequence length ``T``."""
    seen: set[str] = set()
    rows: dict[str, torch.Tensor] = {}
    rolled: list[Optional[torch.Tensor]] = [None]
    upto: dict[str, torch.Tensor] = {}
    length: list[int] = []

    def take(name: str, attention: torch.Tensor) -> None:
        if name in seen:
            return  # a module called twice: its first call counts
        seen.add(name)
        shape = tuple(attention.shape)
        if len(shape) != 4 or shape[0] != len(batch) or shape[2] != shape[3] or (length and shape[3] != length[0]):
            raise InputError(f"The attention of {name!r} has shape {shape}, not (N, heads, T, T) over the same T "
                             "tokens as the other layers (windowed as in Swin, reduced keys as in SegFormer, "
                             "cross-attention as in DETR's decoder): attention maps are for ViT-style models (ViT, "
                             "DeiT, DINOv2, CLIP's vision tower, timm ViTs).")
        if not length:
            length.append(attention.shape[-1])
            if not -length[0] <= query < length[0]:
                raise InputError(f"token={query} is outside the {length[0]} tokens of the sequence; use "
                                 f"0..{length[0] - 1}.")
        if name in names:
            rows[name] = attention[:, :, query]
        if rollout:
            step = rollout_of([attention])
            so_far = rolled[0] = step if rolled[0] is None else step @ rolled[0]
            if name in names:
                upto[name] = so_far[:, query]

    hf = [module.get_submodule(n) for n in every if kinds[n][0] == "hf"]
    with ModelState(module) as state, _Eager(hf), torch.no_grad():
        for name in every:
            _Reader(name, module.get_submodule(name), kinds[name], take).install(state)
        with state.forward():
            call_model(module, batch)
    missing = [n for n in every if n not in seen]
    if missing:
        raise InputError(f"The attention layers {', '.join(missing)} did not run in the forward; choose layers "
                         "the model calls.")
    return rows, rolled[0], upto, length[0]


def _query(token: Union[str, int], own: Optional[TokenGeometry], model: str) -> int:
    """The index of the query token: ``token``, or for ``"cls"`` the CLS token's place among the model's prefix
    tokens (the first token when the model does not say)."""
    if token != "cls":
        return int(token)
    if own is None:
        return 0
    if own.prefix == 0 or (own.prefix_names and "CLS" not in own.prefix_names):
        _no_cls(own, model)
    return own.prefix_names.index("CLS") if own.prefix_names else 0


def _no_cls(geometry: TokenGeometry, model: str) -> None:
    names, grid = ", ".join(geometry.prefix_names) or "none", f"{geometry.grid[0]}x{geometry.grid[1]}"
    raise InputError(f"{model} has no CLS token (prefix tokens: {names}, then its {grid} patches); pass "
                     "token=INDEX, the index of the token whose attention to show.")


def _on_grid(row: torch.Tensor, prefix: int, grid: tuple[int, int], heads: str) -> torch.Tensor:
    """``row`` (N, heads, T) over the patches as (N, heads, h, w), or averaged over heads (N, 1, h, w)."""
    patches = row[:, :, prefix:].reshape(row.shape[0], row.shape[1], *grid)
    return patches.mean(1, keepdim=True) if heads == "mean" else patches


def wants_attention(views: Sequence[str]) -> bool:
    """Whether any of the views ``views`` names draws attention maps (``needs_attention``, e.g. ``attention``).

    >>> wants_attention(("grid", "attention")), wants_attention(("grid", "overlay"))
    (True, False)
    """
    return any(name in VIEWS and VIEWS[name].needs_attention for name in views)


def layer_attention(model: Any, batch: Any, layers: Sequence[str], views: Sequence[str] = ("attention",)
                    ) -> dict[str, dict[str, torch.Tensor]]:
    """What the attention views ``views`` of show, the report and the explorer draw: per layer of ``layers`` that
    has an attention module in or around it, per view the CLS token's attention averaged over heads (or, for a view
    with ``rollout = True``, its rollout up to that layer), ``(N, 1, h, w)`` on the CPU.

    >>> import torch, timm
    >>> model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_classes=3).eval()
    >>> found = layer_attention(model, torch.rand(1, 3, 32, 32), ["blocks.1", "head"], ["attention", "rollout"])
    >>> {layer: {view: tuple(m.shape) for view, m in maps.items()} for layer, maps in found.items()}
    {'blocks.1': {'attention': (1, 1, 4, 4), 'rollout': (1, 1, 4, 4)}}
    """
    drawn = {name: bool(getattr(VIEWS[name], "rollout", False)) for name in views
             if name in VIEWS and VIEWS[name].needs_attention}
    found = attention_maps(model, batch, rollout=any(drawn.values()))
    out: dict[str, dict[str, torch.Tensor]] = {}
    for layer in layers:
        for view, rollout in drawn.items():
            maps = found.of(layer, rollout=rollout)
            if maps is not None:
                out.setdefault(layer, {})[view] = maps.float().cpu()
    return out
