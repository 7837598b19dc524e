"""Receptive fields: the box of input pixels that a position of a layer's map sees.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))
>>> fields = receptive_fields(model, {"3": (6, 6)}, torch.zeros(1, 1, 16, 16))
>>> fields["3"].method, fields["3"].box(0, 0), fields["3"].box(5, 5)
('geometry', (0, 0, 7, 7), (9, 9, 16, 16))

Per axis a field is an affine rule: position ``i`` sees the input pixels ``i*stride - offset`` to
``i*stride - offset + size`` (exclusive), clipped to the input. Where every op between the input
and the layer is a convolution (depthwise, grouped, dilated, ``padding="same"``), a pooling, a padding
(``F.pad`` with zeros or edge copies: timm's same-padding ``Conv2dSame``, ``MaxPool2dSame`` and
``AvgPool2dSame`` pad, then run with padding 0), a crop or strided slice of the rows and columns, an
elementwise op (activations, eval-mode batch norm, residual sums, channel concatenations) or a global
pooling, the rule comes from the layer geometry, exactly (``method="geometry"``; :class:`_Geometry` follows the ops as they run). A global gate
(a 1x1 map multiplied with or added to the maps, as in squeeze-and-excitation) leaves the box
where the local pattern is: every later unit depends on the whole input through it, but a box of
the whole input would show nothing. For
anything else (attention, token layouts, resampling, custom ops) it comes from gradients
(``method="gradient"``), and probes run only where the geometry stops: the first op it does not follow
(fed by maps it follows) is probed once, and every layer computed from that op's output by ops it follows
gets the probed rule composed with its geometry from there (one backward serves them all); an op that
mixes maps of two such origins starts another. A probe: random inputs are run, the gradient at nine probe
positions (the ends of the map, next to them, its quarters and centre) is taken with respect to the input, and
the rule is the smallest one that covers every nonzero gradient seen. That works for any
architecture; where the map does not follow a translation rule (attention) the boxes become
the whole input.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import torch
from torch.overrides import TorchFunctionMode

from ..capturing import Recorder
from ..core.layout import to_maps

__all__ = ["Receptive", "receptive_fields"]

Axis = tuple[float, float, float]  # (stride, offset, size); integers from the geometry
IDENTITY: tuple[Axis, Axis] = ((1, 0, 1), (1, 0, 1))
GLOBAL, UNKNOWN = "global", "unknown"

_ELEMENTWISE = {
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu",
    "gelu", "silu", "mish", "sigmoid", "tanh", "hardsigmoid", "hardswish", "softplus", "prelu", "dropout",
    "dropout2d", "alpha_dropout", "feature_alpha_dropout", "batch_norm", "contiguous", "clone", "detach", "to",
    "float", "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "__add__", "__iadd__", "__radd__",
    "__sub__", "__isub__", "__rsub__", "__mul__", "__imul__", "__rmul__", "__truediv__", "__itruediv__", "neg",
    "abs", "clamp", "clamp_", "clamp_min", "sqrt", "square", "exp", "sign", "where",
}
_POOLS = {"max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d"}
_ADAPTIVE = {"adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"}


@dataclass(frozen=True)
class Receptive:
    """The receptive-field rule of one layer: ``stride``, ``offset``, ``size`` per axis (rows, cols) in
    pixels of an ``input`` (H, W); ``method`` says where it came from. Integers from the geometry; the
    gradient method may give a fractional stride (an upsampling layer), and boxes round outwards."""

    method: str
    stride: tuple[float, float]
    offset: tuple[float, float]
    size: tuple[float, float]
    input: tuple[int, int]

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` (x1, y1 exclusive, as ``PIL.Image.crop``) of map position (row, col)."""
        spans = []
        for i, stride, offset, size, limit in zip((row, col), self.stride, self.offset, self.size, self.input):
            start = i * stride - offset
            low, high = math.floor(start), math.ceil(start + size)
            spans.append((min(max(low, 0), limit), min(max(high, 0), limit)))
        (y0, y1), (x0, x1) = spans
        return x0, y0, x1, y1

    def to_dict(self) -> dict:
        return {"method": self.method, "stride": list(self.stride), "offset": list(self.offset),
                "size": list(self.size), "input": list(self.input)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Receptive":
        number = lambda v: int(v) if float(v).is_integer() else float(v)  # noqa: E731
        return cls(data["method"], *(tuple(number(v) for v in data[k]) for k in ("stride", "offset", "size", "input")))

    @classmethod
    def whole(cls, input_size: tuple[int, int], method: str = "geometry") -> "Receptive":
        return cls(method, (0, 0), (0, 0), tuple(input_size), tuple(input_size))


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1])) if value else (0, 0)
    return int(value), int(value)


def _tensors(values: Any) -> list:
    found = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(_tensors(value))
    return found


def _window(geo: Any, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> Any:
    if geo in (GLOBAL, UNKNOWN):
        return geo
    return tuple((j * s, p + pad * j, r + d * (k - 1) * j)
                 for (j, p, r), k, s, pad, d in zip(geo, kernel, stride, padding, dilation))


def _shift(geo: Any, starts: tuple, steps: tuple = (1, 1)) -> Any:
    """The rule of positions ``i`` that are positions ``start + i*step`` of a map with rule ``geo`` (a crop, a
    strided slice, or a padding: a negative start)."""
    if geo in (GLOBAL, UNKNOWN):
        return geo
    return tuple((j * step, p - start * j, r) for (j, p, r), start, step in zip(geo, starts, steps))


def _pad(geo: Any, args: tuple, kwargs: dict) -> Any:
    """``F.pad`` (timm's same-padding convs and pools pad first, then run with padding 0): zeros or edge copies
    before a map move it; a reflection or a wrap makes a border see pixels outside the box."""
    widths = list(args[1] if len(args) > 1 else kwargs["pad"])
    mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
    if mode not in ("constant", "replicate") or len(widths) > 4 and any(widths[6:]):  # the batch dim padded
        return UNKNOWN
    widths += [0] * (4 - len(widths))
    return _shift(geo, (-int(widths[2]), -int(widths[0])))


def _crop(geo: Any, index: Any, shape: tuple) -> Any:
    """``x[...]`` of an NCHW map: any selection of inputs and channels, and slices of the rows and columns."""
    index = index if isinstance(index, tuple) else (index,)
    if Ellipsis in index or any(i is None for i in index) or len(index) > 4:
        return UNKNOWN
    starts, steps = [], []
    for i, size in zip([*index[2:], slice(None), slice(None)][:2], shape[-2:]):
        if not isinstance(i, slice):
            return UNKNOWN
        start, _, step = i.indices(size)
        if step < 1:
            return UNKNOWN
        starts.append(start)
        steps.append(step)
    return _shift(geo, tuple(starts), tuple(steps))


def _union(geos: list) -> Any:
    if UNKNOWN in geos:
        return UNKNOWN
    if GLOBAL in geos:
        return GLOBAL
    axes = []
    for parts in zip(*geos):
        if len({j for j, _, _ in parts}) > 1:
            return UNKNOWN
        offset = max(p for _, p, _ in parts)
        end = max(r - p for _, p, r in parts)
        axes.append((parts[0][0], offset, offset + end))
    return tuple(axes)


class _Geometry(TorchFunctionMode):
    """Follows the ops of one forward, giving every NCHW tensor derived from ``source`` its field rule.

    An op the rules do not know, fed by maps whose rules are known, starts a *frontier*: its output (an NCHW
    tensor) gets the identity rule relative to itself, so every map computed from it by known ops has a rule
    relative to the frontier (``base``), and one gradient probe of the frontier serves all of them.
    """

    def __init__(self, source: torch.Tensor) -> None:
        super().__init__()
        self.geo: dict[int, Any] = {id(source): IDENTITY}
        self.base: dict[int, int] = {}  # tensor id -> its frontier's index (absent: rules relative to the input)
        self.frontiers: list[torch.Tensor] = []
        self.keep = [source]  # ids stay valid while the tensors live

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        tracked = [t for t in _tensors([*args, *kwargs.values()]) if id(t) in self.geo]
        if tracked:
            name = getattr(func, "__name__", "")
            if name in _ELEMENTWISE and len(tracked) > 1:  # a 1x1 gate (squeeze-excitation) does not widen the box
                local = [t for t in tracked if not (self.geo[id(t)] == GLOBAL and t.shape[-2:].numel() == 1)]
                tracked = local or tracked
            geos = [self.geo[id(t)] for t in tracked]
            known = [t for t, g in zip(tracked, geos) if g not in (GLOBAL, UNKNOWN)]
            bases = {self.base.get(id(t), -1) for t in known}
            geo = self._rule(name, args, kwargs, geos, out) if len(bases) <= 1 else UNKNOWN
            base = bases.pop() if len(bases) == 1 else -1
            outs = _tensors([out] if isinstance(out, torch.Tensor) else out if isinstance(out, (tuple, list)) else [])
            if (geo == UNKNOWN and len(known) == len(tracked) and len(outs) == 1 and outs[0].dim() == 4
                    and outs[0].is_floating_point() and outs[0].shape[-2:].numel() > 1):
                geo, base = IDENTITY, len(self.frontiers)  # a frontier
                self.frontiers.append(outs[0])
            for tensor in outs:
                self.geo[id(tensor)] = geo if tensor.dim() == 4 or geo == GLOBAL else UNKNOWN
                if base >= 0 and self.geo[id(tensor)] not in (GLOBAL, UNKNOWN):
                    self.base[id(tensor)] = base
                else:
                    self.base.pop(id(tensor), None)
                self.keep.append(tensor)
        return out

    def _rule(self, name: str, args: tuple, kwargs: dict, geos: list, out: Any) -> Any:
        first = args[0] if args else None
        if name == "conv2d" and isinstance(first, torch.Tensor):
            return self._conv(args, kwargs, geos[0])
        if name in _POOLS:
            get = lambda i, key, default: args[i] if len(args) > i else kwargs.get(key, default)  # noqa: E731
            kernel = _pair(get(1, "kernel_size", 1))
            stride = _pair(get(2, "stride", None) or kernel)
            dilation = _pair(get(4, "dilation", 1)) if "max" in name else (1, 1)
            return _window(geos[0], kernel, stride, _pair(get(3, "padding", 0)), dilation)
        if name in _ADAPTIVE and isinstance(first, torch.Tensor) and isinstance(out, (torch.Tensor, tuple)):
            result = out if isinstance(out, torch.Tensor) else out[0]
            if tuple(result.shape[-2:]) == (1, 1):
                return GLOBAL
            return geos[0] if result.shape[-2:] == first.shape[-2:] else UNKNOWN
        if name == "cat":
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            return _union(geos) if dim in (1, -3) else UNKNOWN
        if name == "pad" and isinstance(first, torch.Tensor):
            return _pad(geos[0], args, kwargs)
        if name == "__getitem__" and isinstance(first, torch.Tensor) and first.dim() == 4:
            return _crop(geos[0], args[1] if len(args) > 1 else None, tuple(first.shape))
        if name in ("chunk", "split") and self._channel_only(name, args, kwargs):
            return geos[0]
        return _union(geos) if name in _ELEMENTWISE else UNKNOWN

    @staticmethod
    def _channel_only(name: str, args: tuple, kwargs: dict) -> bool:
        return (args[2] if len(args) > 2 else kwargs.get("dim", 0)) in (1, -3)

    @staticmethod
    def _conv(args: tuple, kwargs: dict, geo: Any) -> Any:
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        given = {**dict(zip(names, args)), **kwargs}
        kernel = tuple(given["weight"].shape[-2:])
        dilation = _pair(given.get("dilation", 1))
        padding = given.get("padding", 0)
        if padding == "same":
            padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
        elif padding == "valid":
            padding = (0, 0)
        return _window(geo, kernel, _pair(given.get("stride", 1)), _pair(padding), dilation)


def _modules(names: Any) -> list[str]:
    """The module names behind capture keys (``block:0`` and ``conv#1`` come from ``block`` and ``conv``)."""
    return list(dict.fromkeys(n.split(":")[0].split("#")[0] for n in names))


def _geometry(model: torch.nn.Module, names: list[str], example: torch.Tensor) -> tuple[dict[str, Any], dict[str, int], list]:
    """Each layer's rule, the frontier it is relative to (-1: the input) and the frontiers' (H, W)."""
    mode = _Geometry(example)
    with Recorder(model, _modules(names)) as rec, mode:
        acts = rec(example)
    found = {name: mode.geo.get(id(acts[name]), UNKNOWN) if name in acts else UNKNOWN for name in names}
    bases = {name: mode.base.get(id(acts[name]), -1) if name in acts else -1 for name in names}
    return found, bases, [tuple(f.shape[-2:]) for f in mode.frontiers]


def _compose(geo: Any, frontier: Receptive) -> Receptive:
    """The rule of a map whose rule ``geo`` is relative to a frontier whose own rule (to the input) is ``frontier``:
    positions ``i*j - p`` to ``i*j - p + r`` of the frontier see ``(i*j - p)*S - O`` to ``(i*j - p + r - 1)*S - O + R``."""
    if frontier.stride == (0, 0):
        return frontier
    axes = [(j * s, p * s + o, (r - 1) * s + size) for (j, p, r), s, o, size in
            zip(geo, frontier.stride, frontier.offset, frontier.size)]
    (sy, oy, ry), (sx, ox, rx) = axes
    return Receptive("gradient", (sy, sx), (oy, ox), (ry, rx), frontier.input)


def _probes(length: int) -> list[int]:
    """Nine positions along an axis: both ends and their neighbours, the quarters and the middle."""
    picks = [0, 1, 2, length // 4, length // 2, (3 * length) // 4, length - 3, length - 2, length - 1]
    return [min(max(p, 0), length - 1) for p in picks]


PROBES = 9


def _fit(measured: list[tuple[int, Optional[tuple[int, int]]]], limit: int, length: int) -> Axis:
    """The smallest (stride, offset, size) rule whose boxes cover every measured [lo, hi] of the probes.

    The stride is the median slope of unclipped box edges between probes at least a quarter of the map
    apart (a resampling layer has a fractional stride); without one, the input/map size ratio.
    """
    seen = [(q, box) for q, box in measured if box is not None]
    far = max(length // 4, 1)
    slopes = [(b[e] - a[e]) / (qb - qa) for i, (qa, a) in enumerate(seen) for qb, b in seen[i + 1 :]
              for e, ok in ((0, a[0] > 0 and b[0] > 0), (1, a[1] < limit - 1 and b[1] < limit - 1))
              if ok and abs(qb - qa) >= far]
    stride = sorted(slopes)[len(slopes) // 2] if slopes else (limit / length if length > 1 else 0.0)
    stride = round(stride) if abs(stride - round(stride)) < 1e-6 else stride
    starts = [q * stride - lo for q, (lo, _) in seen if lo > 0]
    ends = [hi - q * stride for q, (_, hi) in seen if hi < limit - 1]
    offset = max(starts) if starts else (length - 1) * stride
    end = max(ends) if ends else float(limit - 1)
    return stride, offset, offset + end + 1


def _gradient(model: torch.nn.Module, sizes: Mapping[str, tuple[int, int]], layouts: Mapping[str, str],
              example: torch.Tensor, repeats: int = 4, frontiers: Sequence[tuple[int, int]] = ()
              ) -> tuple[dict[str, Receptive], list[Receptive]]:
    """The gradient rules of the layers in ``sizes`` and of the geometry's first frontiers (their (H, W) in
    ``frontiers``; found again by following the ops of this forward), from one forward of the probe inputs: a
    backward for each layer or frontier, and each frontier's rule serves every layer computed from it."""
    shape = tuple(example.shape[1:])
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((PROBES * repeats, *shape), generator=generator).to(example.device, example.dtype).requires_grad_(True)
    fields, rules = {}, []
    mode = _Geometry(x) if frontiers else contextlib.nullcontext()
    with Recorder(model, _modules(sizes), grad=True) if sizes else contextlib.nullcontext() as rec:
        with mode:
            acts = rec(x) if sizes else model(x)
        found = mode.frontiers if frontiers else []
        for i, size in enumerate(frontiers):
            tensor = found[i] if i < len(found) else None  # None: this forward took another path
            if tensor is None or tuple(tensor.shape[-2:]) != size or len(tensor) != len(x) or not tensor.requires_grad:
                rules.append(Receptive.whole(tuple(shape[-2:]), "gradient"))
                continue
            where = torch.arange(tensor.numel(), device=tensor.device).reshape(tensor.shape)
            rules.append(_probe(tensor.reshape(-1), where, x, size, repeats, generator))
        for name, size in sizes.items():
            raw = acts[name] if name in acts else None
            if raw is None or not raw.is_floating_point() or not raw.requires_grad:
                fields[name] = Receptive.whole(tuple(shape[-2:]), "gradient")
                continue
            # where each map value sits in the raw capture: lay out the flat indices as the layer's maps are
            ids = torch.arange(raw.numel(), dtype=torch.float64, device=raw.device).reshape(raw.shape)
            geometry = getattr(acts, "tokens", None) if ids.dim() == 3 else None  # the model's token layout
            where = to_maps(ids, layout=layouts.get(name), input_size=shape[-2:], tokens=geometry).maps.long()
            fields[name] = _probe(raw.reshape(-1), where, x, size, repeats, generator)
    return fields, rules


def _probe(values: torch.Tensor, where: torch.Tensor, x: torch.Tensor, size: tuple[int, int], repeats: int,
           generator: torch.Generator) -> Receptive:
    """The rule from the gradients at the probe positions; ``values`` is the flat capture, ``where`` (B, C, H, W) the
    index of each map value in it."""
    limits = tuple(x.shape[-2:])
    rows, cols = _probes(size[0]), _probes(size[1])
    index = torch.arange(len(x), device=where.device)
    probe = index // repeats
    r = torch.tensor(rows, device=where.device)[probe]
    c = torch.tensor(cols, device=where.device)[probe]
    picked = values[where[index, :, r, c]]  # (B, C)
    weights = torch.randn(picked.shape[1], generator=generator).to(picked.device, picked.dtype)
    (grad,) = torch.autograd.grad((picked * weights).sum(), x, retain_graph=True, allow_unused=True)
    if grad is None:
        return Receptive.whole(limits, "gradient")
    hit = grad.detach().abs().sum(1).reshape(PROBES, repeats, *limits).sum(1) > 0  # (probes, H, W)
    axes = []
    for axis, (positions, limit, length) in enumerate(zip((rows, cols), limits, size)):
        seen = hit.any(2 - axis)  # rows: any over columns; cols: any over rows
        measured = []
        for p, q in enumerate(positions):
            where = seen[p].nonzero()[:, 0]
            measured.append((q, (int(where[0]), int(where[-1])) if len(where) else None))
        axes.append(_fit(measured, limit, length))
    (sy, oy, ry), (sx, ox, rx) = axes
    return Receptive("gradient", (sy, sx), (oy, ox), (ry, rx), limits)


def receptive_fields(model: torch.nn.Module, sizes: Mapping[str, Optional[tuple[int, int]]],
                     example: torch.Tensor, layouts: Optional[Mapping[str, str]] = None) -> dict[str, Receptive]:
    """The :class:`Receptive` of each layer in ``sizes`` (capture key -> its map's (H, W), None for vectors)
    for inputs shaped like ``example`` (1, C, H, W); ``layouts`` gives each layer's layout (default NCHW)."""
    layouts = dict(layouts or {})
    limits = tuple(example.shape[-2:])
    fields = {name: Receptive.whole(limits) for name, size in sizes.items() if size is None}
    spatial = [name for name, size in sizes.items() if size is not None and layouts.get(name, "NCHW") == "NCHW"]
    unknown = {name: size for name, size in sizes.items() if size is not None and name not in spatial}
    geos, bases, shapes = _geometry(model, spatial, example[:1]) if spatial else ({}, {}, [])
    for name, geo in geos.items():
        if geo == GLOBAL:
            fields[name] = Receptive.whole(limits)
        elif geo == UNKNOWN:
            unknown[name] = sizes[name]
        elif bases[name] < 0:
            (sy, oy, ry), (sx, ox, rx) = geo
            fields[name] = Receptive("geometry", (sy, sx), (oy, ox), (ry, rx), limits)
    needed = max((bases[name] + 1 for name in geos if name not in fields and name not in unknown), default=0)
    if unknown or needed:
        probed, rules = _gradient(model, unknown, layouts, example[:1], frontiers=shapes[:needed])
        fields.update(probed)
        for name in geos:
            if name not in fields:
                fields[name] = _compose(geos[name], rules[bases[name]])
    return {name: fields[name] for name in sizes}
