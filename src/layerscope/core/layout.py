"""Turn any captured activation into 2-D maps ``(N, C, H, W)``: conv maps, ViT tokens, NHWC, 1-D, 3-D, vectors.

>>> import torch
>>> m = to_maps(torch.zeros(1, 197, 768))
>>> m.layout, tuple(m.maps.shape)
('tokens', (1, 768, 14, 14))
>>> m.notes[0]
'tokens: dropped 1 leading token (CLS) of 197, the rest is a 14x14 grid of 768 channels'

What ``maps`` holds for each layout (``N`` is always the batch):

- ``NCHW`` the tensor itself; ``NHWC`` permuted to ``(N, C, H, W)``.
- ``tokens`` ``(N, L, D)`` with ``L = extra + h*w``: the ``extra`` leading tokens (CLS, DeiT's
  distillation token, register tokens) are kept apart (``Maps.prefix``, ``(N, extra, D)``) and the
  rest becomes ``(N, D, h, w)``. With the model's :class:`TokenGeometry` (``tokens=``, read from the
  model by :func:`layerscope.capturing.tokens.token_geometry`) the prefix count and grid are the
  model's own; without it they are guessed (:func:`token_grid`). A geometry's object queries (DETR's
  decoder, ``TokenGeometry.queries``) are no grid: laid out as ``NLC``, a strip per feature.
- ``NCL`` (Conv1d) ``(N, C, 1, L)``: one heat strip per channel; ``NLC`` the same from ``(N, L, C)``.
- ``NCDHW`` (Conv3d) ``(N, C, H, D*W)``: the depth slices of each channel side by side, slice 0 on the
  left; with ``depth=k`` only slice ``k``, ``(N, C, H, W)``.
- ``NC`` (Linear) ``(N, 1, 1, C)``: the whole vector as one 1-pixel-high strip.

``maps`` may share memory with the input: treat it as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import isqrt
from typing import Any, Optional, Sequence

import torch

from ..errors import InputError, LayerNotFoundError, LayoutError
from .tensors import as_tensor

__all__ = ["Maps", "LAYOUTS", "TokenGeometry", "canonical_layout", "to_maps", "layer_maps", "token_grid"]

LAYOUTS = ("NCHW", "NHWC", "tokens", "NCL", "NLC", "NCDHW", "NC")
_NDIM = {"NCHW": 4, "NHWC": 4, "tokens": 3, "NCL": 3, "NLC": 3, "NCDHW": 5, "NC": 2}
_ALIASES = {name.lower(): name for name in LAYOUTS} | {"nld": "tokens", "token": "tokens", "bchw": "NCHW"}
MAX_EXTRA_TOKENS = 8

# Module types whose 4-D outputs are channels-last (Swin stages, ConvNeXt's LayerNorm/Linear/Mlp in NHWC),
# whose 3-D outputs are token sequences (ViT blocks), and those that are channels-first by construction.
_CHANNELS_LAST = {
    "LayerNorm", "Linear", "Mlp", "GluMlp", "SwiGLU", "SwiGLUPacked", "PatchEmbed", "PatchMerging", "Permute",
    "SwinTransformerStage", "SwinTransformerBlock", "SwinTransformerV2Stage", "SwinTransformerV2Block",
    "SwinTransformerBlockV2", "ShiftedWindowAttention", "ShiftedWindowAttentionV2", "WindowAttention",
}
_TOKENS = {
    "LayerNorm", "Linear", "Mlp", "GluMlp", "SwiGLU", "SwiGLUPacked", "PatchEmbed", "Block", "EncoderBlock",
    "MLPBlock", "Attention", "MultiheadAttention", "LayerScale", "Encoder", "ParallelScalingBlock",
}
_ONE_D = {
    "Conv1d", "ConvTranspose1d", "LazyConv1d", "BatchNorm1d", "InstanceNorm1d", "MaxPool1d", "AvgPool1d",
    "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "Upsample1d",
}
_CHANNELS_FIRST = {
    "Conv2d", "ConvTranspose2d", "LazyConv2d", "BatchNorm2d", "InstanceNorm2d", "GroupNorm", "LayerNorm2d",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Conv2dSame", "BatchNormAct2d",
    "ConvNormAct", "Conv2dNormActivation", "Bottleneck", "BasicBlock", "ConvNeXtBlock", "ConvNeXtStage",
    "ConvNextLayer", "ConvNextStage", "ConvNextV2Layer", "ConvNextV2Stage",  # (Hugging Face's ConvNeXt)
} | {name.replace("1d", "3d") for name in _ONE_D}


@dataclass(frozen=True)
class TokenGeometry:
    """How a model's token sequences read as maps: ``prefix`` leading tokens, then a row-major patch ``grid``.

    Read from the model by :func:`layerscope.capturing.tokens.token_geometry` (never guessed);
    ``prefix_names`` names each prefix token (``'CLS'``, ``'distillation'``, ``'register 1'`` ...),
    ``source`` says where the numbers came from. ``grid`` is the grid of the patch embedding;
    hierarchical models (Swin, SegFormer, LeViT) halve it from stage to stage (rounding up), and
    :meth:`fit` finds the stage grid of a sequence by its length.

    >>> vit = TokenGeometry(1, (3, 5), ("CLS",), "example")
    >>> vit.fit(16), vit.fit(15), vit.fit(20)
    ((1, 3, 5), (0, 3, 5), None)
    >>> TokenGeometry(0, (7, 9), (), "swin").fit(4 * 5)  # a stage later: ceil(7/2) x ceil(9/2)
    (0, 4, 5)
    """

    prefix: int
    grid: tuple[int, int]
    prefix_names: tuple[str, ...] = ()
    source: str = ""
    queries: int = field(default=0, repr=False)  # a sequence of this many tokens is object queries (DETR): no grid

    def __post_init__(self) -> None:
        if self.prefix < 0 or len(self.grid) != 2 or min(self.grid) < 1:
            raise InputError(f"TokenGeometry needs prefix >= 0 and a grid of two positive sides, got "
                             f"prefix={self.prefix!r}, grid={self.grid!r}.")
        if self.prefix_names and len(self.prefix_names) != self.prefix:
            raise InputError(f"TokenGeometry: {len(self.prefix_names)} prefix names for {self.prefix} prefix tokens.")

    def fit(self, length: int) -> Optional[tuple[int, int, int]]:
        """``(prefix, rows, cols)`` of a sequence of ``length`` tokens, or None when none fits.

        Tries the model's prefix, then none (a patch embedding's own output), on the patch grid;
        a model without prefix tokens also on the grid halved 1 to 6 times (rounding up, as patch
        merging and strided stages do). A model with prefix tokens has one grid (ViT-style).
        """
        rows, cols = self.grid
        for _ in range(7 if self.prefix == 0 else 1):
            for prefix in dict.fromkeys((self.prefix, 0)):
                if length == prefix + rows * cols:
                    return prefix, rows, cols
            if rows == cols == 1:
                break
            rows, cols = -(-rows // 2), -(-cols // 2)
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; :meth:`from_dict` reads it back.

        >>> TokenGeometry.from_dict(TokenGeometry(1, (2, 3), ("CLS",), "x").to_dict())
        TokenGeometry(prefix=1, grid=(2, 3), prefix_names=('CLS',), source='x')
        """
        data = {"prefix": self.prefix, "grid": list(self.grid), "prefix_names": list(self.prefix_names),
                "source": self.source}
        return data | ({"queries": self.queries} if self.queries else {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TokenGeometry":
        return cls(int(data["prefix"]), (int(data["grid"][0]), int(data["grid"][1])),
                   tuple(data.get("prefix_names", ())), str(data.get("source", "")), int(data.get("queries", 0)))

    def are_queries(self, length: int, module_type: Optional[str] = None) -> bool:
        """Whether a sequence of ``length`` tokens is the model's object queries (vectors, no grid): its length is
        the number of queries and it is no grid, or both and the module is a decoder.

        >>> detr = TokenGeometry(0, (2, 3), (), "detr", queries=5)
        >>> detr.are_queries(5), detr.are_queries(6), TokenGeometry(0, (2, 3), (), "detr", queries=6).are_queries(6)
        (True, False, False)
        """
        if not self.queries or length != self.queries:
            return False
        return self.fit(length) is None or "decoder" in (module_type or "").lower()

    def names(self, prefix: int) -> tuple[str, ...]:
        """The names of the first ``prefix`` tokens (``'token k'`` where the model names none)."""
        named = self.prefix_names[:prefix]
        return tuple(named) + tuple(f"token {i}" for i in range(len(named), prefix))


@dataclass
class Maps:
    """2-D maps ``(N, C, H, W)`` made from one activation, with how they were made.

    ``layout`` is one of :data:`LAYOUTS`; ``notes`` says what was inferred or dropped;
    ``source_shape`` is the activation's shape; ``extra_tokens`` the number of leading
    tokens set apart from the grid (``tokens`` layout only), ``prefix`` those tokens
    ``(N, extra_tokens, D)`` (None without any) and ``prefix_names`` what each is; ``tokens`` the
    model's geometry they were laid out with (None when guessed).
    """

    maps: torch.Tensor
    layout: str
    source_shape: tuple[int, ...]
    notes: list[str] = field(default_factory=list)
    extra_tokens: int = 0
    prefix: Optional[torch.Tensor] = None
    prefix_names: tuple[str, ...] = ()
    tokens: Optional[TokenGeometry] = None

    def prefix_maps(self) -> Optional[torch.Tensor]:
        """The prefix tokens as maps ``(N, extra_tokens, 1, D)``: one 1-pixel-high strip per token, as a
        vector (``NC``) is drawn; None without prefix tokens.

        >>> m = to_maps(torch.arange(10.).reshape(1, 5, 2), tokens=TokenGeometry(1, (2, 2), ("CLS",), "example"))
        >>> m.prefix_names, m.prefix_maps().tolist()
        (('CLS',), [[[[0.0, 1.0]]]])
        """
        return None if self.prefix is None else self.prefix.unsqueeze(2)


def canonical_layout(layout: str) -> str:
    """The layout's canonical name (``'nhwc'`` -> ``'NHWC'``); :class:`LayoutError` for an unknown one.

    >>> canonical_layout('token')
    'tokens'
    """
    name = _ALIASES.get(str(layout).strip().lower())
    if name is None:
        raise LayoutError(f"Unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}.")
    return name


def _size_pair(input_size: Any) -> Optional[tuple[int, int]]:
    if input_size is None:
        return None
    pair = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)[-2:]
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise InputError(f"input_size must be (height, width) in pixels, got {input_size!r}.")
    return pair


def _grid_from_input(count: int, input_size: tuple[int, int]) -> Optional[tuple[int, int]]:
    """(h, w) with h*w == count and h, w = ceil or floor of (H/p, W/p) for one patch size p."""
    height, width = input_size
    for patch in range(1, max(height, width) + 1):
        for rows, cols in ((height // patch, width // patch), (-(-height // patch), -(-width // patch))):
            if rows * cols == count and rows > 0 and cols > 0:
                return rows, cols
    return None


def token_grid(
    length: int, input_size: Optional[tuple[int, int]] = None, extra_tokens: Optional[int] = None
) -> Optional[tuple[int, int, int]]:
    """``(extra, h, w)`` with ``length == extra + h*w``, or None.

    Tries ``extra`` = 0..8 (or only ``extra_tokens``) and keeps the first that fits: with
    ``input_size`` the grid of a patch size that tiles the input, without it the largest
    square (so the fewest extra tokens). Inferred grids have at least 2x2 cells.

    >>> token_grid(197), token_grid(201), token_grid(281, input_size=(224, 320))
    ((1, 14, 14), (5, 14, 14), (1, 14, 20))
    >>> token_grid(34) is None, token_grid(5, extra_tokens=4)
    (True, (4, 1, 1))
    """
    extras = range(MAX_EXTRA_TOKENS + 1) if extra_tokens is None else (int(extra_tokens),)
    smallest = 4 if extra_tokens is None else 1
    for extra in extras:
        count = length - extra
        if count < smallest:
            continue
        if input_size is not None:
            grid = _grid_from_input(count, input_size)
        else:
            side = isqrt(count)
            grid = (side, side) if side * side == count else None
        if grid is not None:
            return extra, grid[0], grid[1]
    return None


def _extra_names(extra: int) -> str:
    if extra == 1:
        return "CLS"
    if extra == 2:
        return "CLS + distillation (DeiT) or CLS + 1 register"
    return f"likely CLS + {extra - 1} register tokens"


def _from_geometry(x: torch.Tensor, tokens: TokenGeometry, found: tuple[int, int, int]) -> Maps:
    n, length, dim = x.shape
    extra, rows, cols = found
    grid = x[:, extra:, :].reshape(n, rows, cols, dim).permute(0, 3, 1, 2)
    names = tokens.names(extra)
    registers = sum(n.startswith("register ") for n in names)
    said = [n for n in names if not n.startswith("register ")] + ([f"{registers} register tokens"] if registers else [])
    kept = f"{extra} leading token{'s' if extra != 1 else ''} ({' + '.join(said)}) kept apart" if extra else (
        "no prefix tokens")
    scale = "" if (rows, cols) == tuple(tokens.grid) else f" (a later stage of the {tokens.grid[0]}x{tokens.grid[1]} grid)"
    note = f"tokens: {kept} of {length}, the rest is a {rows}x{cols} grid{scale} of {dim} channels ({tokens.source})"
    return Maps(grid, "tokens", tuple(x.shape), [note], extra, x[:, :extra, :] if extra else None, names, tokens)


def _from_queries(x: torch.Tensor, tokens: TokenGeometry) -> Maps:
    maps = _from_ncl(x, channels_last=True)
    n, length, dim = x.shape
    maps.notes = [f"tokens: {length} object queries of {dim} features, no grid: each feature a strip over the "
                  f"queries (query 0 left), as NLC ({tokens.source})"]
    maps.tokens = tokens
    return maps


def _from_tokens(x: torch.Tensor, input_size, extra_tokens, tokens: Optional[TokenGeometry] = None,
                 module_type: Optional[str] = None) -> Maps:
    n, length, dim = x.shape
    if tokens is not None and extra_tokens is None:
        if tokens.are_queries(length, module_type):
            return _from_queries(x, tokens)
        fitted = tokens.fit(length)
        if fitted is None:
            rows, cols = tokens.grid
            raise LayoutError(
                f"Cannot lay out tokens of shape {tuple(x.shape)}: {length} tokens are neither the model's "
                f"{tokens.prefix} prefix tokens and {rows}x{cols} patch grid nor a stage of that grid halved "
                f"({tokens.source}). Pass layout='NLC' (or 'NCL') to show them as strips, or extra_tokens=K "
                f"with input_size=(H, W) to lay them out as a grid anyway."
            )
        return _from_geometry(x, tokens, fitted)
    found = token_grid(length, input_size, extra_tokens)
    if found is None:
        grid = f" and a patch grid of the {input_size[0]}x{input_size[1]} input" if input_size else ""
        raise LayoutError(
            f"Cannot lay out tokens of shape {tuple(x.shape)}: {length} tokens are not extra + h*w "
            f"for extra in 0..{MAX_EXTRA_TOKENS}{grid}. "
            f"Pass input_size=(H, W) of the model input, extra_tokens=K, or layout='NLC' to show them as strips."
        )
    extra, rows, cols = found
    grid = x[:, extra:, :].reshape(n, rows, cols, dim).permute(0, 3, 1, 2)
    if extra:
        what = f"dropped {extra} leading token{'s' if extra != 1 else ''} ({_extra_names(extra)}) of {length}"
    else:
        what = f"no extra tokens among {length}"
    note = f"tokens: {what}, the rest is a {rows}x{cols} grid of {dim} channels"
    names = ("CLS",) + tuple(f"token {i}" for i in range(1, extra)) if extra else ()
    return Maps(grid, "tokens", tuple(x.shape), [note], extra, x[:, :extra, :] if extra else None, names)


def _spatial_fit(rows: int, cols: int, input_size: Optional[tuple[int, int]]) -> bool:
    """Do (rows, cols) look like a downsampled input? Square without input_size; same aspect (10%) with it."""
    if input_size is None:
        return rows == cols
    height, width = input_size
    return rows <= height and cols <= width and abs(height * cols - width * rows) <= 0.1 * height * cols


def _infer_4d(shape: tuple[int, ...], input_size, module_type: Optional[str]) -> tuple[str, list[str]]:
    _, d1, d2, d3 = shape
    nchw_ok, nhwc_ok = _spatial_fit(d2, d3, input_size), _spatial_fit(d1, d2, input_size)
    if module_type in _CHANNELS_FIRST:
        return "NCHW", []
    hinted = module_type in _CHANNELS_LAST
    if (hinted and (nhwc_ok or not nchw_ok)) or (nhwc_ok and not nchw_ok):
        why = f"module type {module_type}" if hinted else "the shape"
        return "NHWC", [f"NHWC inferred from {why}: dims 1,2 ({d1}x{d2}) spatial, last dim ({d3}) channels"]
    if nchw_ok and nhwc_ok:
        return "NCHW", [f"NCHW assumed; {shape} would also fit NHWC: pass layout='NHWC' if it is channels-last"]
    return "NCHW", []


def _infer_3d(x: torch.Tensor, input_size, module_type, extra_tokens, tokens: Optional[TokenGeometry]) -> Maps:
    if module_type in _ONE_D:
        return _from_ncl(x, channels_last=False)
    if tokens is not None and extra_tokens is None:  # the model's own geometry, never a guess
        return _from_tokens(x, input_size, extra_tokens, tokens, module_type)
    if module_type in _TOKENS or token_grid(x.shape[1], input_size, extra_tokens) is not None:
        return _from_tokens(x, input_size, extra_tokens, tokens)
    shape = tuple(x.shape)
    raise LayoutError(
        f"Cannot infer the layout of an activation of shape {shape}"
        f"{' from module type ' + repr(module_type) if module_type else ''}: dim 1 ({shape[1]}) is not a "
        f"token count (extra + h*w) and the module is not a known 1-D layer. Pass layout='NCL' "
        f"(Conv1d-style channels x length), layout='NLC' (length x channels) or layout='tokens' with "
        f"input_size=(H, W) (CLI: --layout NCL)."
    )


def _from_ncl(x: torch.Tensor, channels_last: bool) -> Maps:
    seq = x.transpose(1, 2) if channels_last else x
    name = "NLC" if channels_last else "NCL"
    note = f"{name}: {seq.shape[1]} channels of length {seq.shape[2]} as 1-pixel-high heat strips"
    return Maps(seq.unsqueeze(2), name, tuple(x.shape), [note])


def _from_ncdhw(x: torch.Tensor, depth: Optional[int]) -> Maps:
    n, c, d, h, w = x.shape
    if depth is None:
        tiled = x.permute(0, 1, 3, 2, 4).reshape(n, c, h, d * w)
        return Maps(tiled, "NCDHW", tuple(x.shape), [f"NCDHW: {d} depth slices of {h}x{w} side by side (slice 0 left)"])
    if not -d <= depth < d:
        raise InputError(
            f"depth={depth} is out of range for {d} depth slices (shape {tuple(x.shape)}); use 0..{d - 1}."
        )
    return Maps(x[:, :, depth], "NCDHW", tuple(x.shape), [f"NCDHW: depth slice {depth % d} of {d}"])


def _from_nc(x: torch.Tensor) -> Maps:
    return Maps(x[:, None, None, :], "NC", tuple(x.shape), [f"NC: the {x.shape[1]}-vector as one 1-pixel-high strip"])


def to_maps(
    tensor: Any,
    *,
    layout: Optional[str] = None,
    input_size: Any = None,
    module_type: Optional[str] = None,
    extra_tokens: Optional[int] = None,
    depth: Optional[int] = None,
    tokens: Optional[TokenGeometry] = None,
) -> Maps:
    """Lay out one activation (with its batch dim) as 2-D maps; see the module docstring for each layout.

    >>> to_maps(torch.zeros(2, 7, 7, 96), module_type="LayerNorm").layout
    'NHWC'
    >>> tuple(to_maps(torch.zeros(1, 4, 50), module_type="Conv1d").maps.shape)
    (1, 4, 1, 50)

    ``layout`` (one of :data:`LAYOUTS`, case-insensitive) overrides inference.
    ``input_size`` = (H, W) of the model input sharpens it (token grids, NHWC vs NCHW);
    ``module_type`` is ``LayerInfo.module_type``. ``tokens``: the model's
    :class:`TokenGeometry` (prefix count and grid, read from the model), used for every 3-D
    activation whose length it fits; ``extra_tokens`` fixes how many leading tokens to set apart
    (and overrides ``tokens``); ``depth`` picks one slice of a 3-D volume.

    >>> vit = TokenGeometry(5, (3, 5), ("CLS",) + tuple(f"register {i}" for i in range(1, 5)), "example")
    >>> m = to_maps(torch.zeros(1, 5 + 15, 8), tokens=vit)  # a guess would take 4 prefix tokens and a 4x4 grid
    >>> tuple(m.maps.shape), m.extra_tokens, tuple(m.prefix.shape)
    ((1, 8, 3, 5), 5, (1, 5, 8))

    Raises :class:`LayoutError` naming the shape and the override to pass when the layout cannot
    be inferred. A tensor that is part of an autograd graph stays part of it (the maps are views of it).
    """
    x = tensor if isinstance(tensor, torch.Tensor) else as_tensor(tensor, "an activation")
    shape, size = tuple(x.shape), _size_pair(input_size)
    if layout is not None:
        name = canonical_layout(layout)
        if x.dim() != _NDIM[name]:
            raise LayoutError(f"layout={name!r} needs a {_NDIM[name]}-D tensor, but the activation has shape {shape}.")
    elif x.dim() == 4:
        name, notes = _infer_4d(shape, size, module_type)
        maps = x if name == "NCHW" else x.permute(0, 3, 1, 2)
        return Maps(maps, name, shape, notes)
    elif x.dim() == 3:
        return _infer_3d(x, size, module_type, extra_tokens, tokens)
    elif x.dim() in (2, 5):
        name = {2: "NC", 5: "NCDHW"}[x.dim()]
    else:
        raise LayoutError(
            f"Cannot lay out an activation of shape {shape} as 2-D maps: expected 2 to 5 dims with the batch first "
            f"((N, C), (N, C, L), (N, L, D), (N, C, H, W), (N, C, D, H, W)); reshape it to one of these first."
        )
    if name in ("NCHW", "NHWC"):
        return Maps(x if name == "NCHW" else x.permute(0, 3, 1, 2), name, shape, [f"{name} (given)"])
    if name == "tokens":
        return _from_tokens(x, size, extra_tokens, tokens, module_type)
    if name in ("NCL", "NLC"):
        return _from_ncl(x, channels_last=name == "NLC")
    return _from_ncdhw(x, depth) if name == "NCDHW" else _from_nc(x)


def layer_maps(acts: Mapping, name: str, *, layouts: Optional[Mapping[str, str]] = None, **options: Any) -> Maps:
    """:func:`to_maps` of one captured layer, with its module type from ``acts.info`` (if any).

    ``layouts`` maps layer names to explicit layouts; other ``options`` go to :func:`to_maps`; the
    token geometry the capture read from the model (``acts.tokens``) is used unless ``tokens`` is given.
    A :class:`LayoutError` is re-raised with the layer's name in front.
    """
    info = getattr(acts, "info", {}).get(name)
    tensor = acts[name]
    layout = (layouts or {}).get(name, options.pop("layout", None))
    options.setdefault("tokens", getattr(acts, "tokens", None))
    try:
        return to_maps(tensor, layout=layout, module_type=getattr(info, "module_type", None), **options)
    except LayoutError as err:
        raise LayoutError(f"layer {name!r}: {err}") from None


def select_names(acts: Mapping, layers: Optional[Sequence[str]]) -> list[str]:
    """The names of ``acts`` to show: all in order, or ``layers`` (each must exist)."""
    if layers is None:
        return list(acts)
    names = [layers] if isinstance(layers, str) else list(layers)
    for name in names:
        try:
            acts[name]  # Activations raises LayerNotFoundError with a did-you-mean
        except LayerNotFoundError:
            raise
        except KeyError:
            raise LayerNotFoundError(f"No captured layer named {name!r}; captured: {', '.join(acts)}.") from None
    return names
