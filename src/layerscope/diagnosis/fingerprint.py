"""Input checks from BatchNorm running statistics: the network's own record of the inputs it was trained on.

>>> import torch, torch.nn as nn
>>> net = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.BatchNorm2d(2))
>>> with torch.no_grad():
...     _ = net[0].weight.copy_(torch.eye(3)[:2, :, None, None])  # BN sees channels 0 and 1 of the input
...     _ = net[1].running_mean.copy_(torch.tensor([0.0, 1.0])), net[1].running_var.fill_(4.0)
>>> x = torch.zeros(1, 3, 4, 4) + torch.tensor([2.0, 1.0, 0.0])[:, None, None]
>>> seen = bn_statistics(net, x)
>>> [round(float(z), 3) for z in seen[0].z]  # (observed mean - running mean) / sqrt(running var + eps)
[1.0, 0.0]

For any network with BatchNorm, ``running_mean`` / ``running_var`` of the first normalized layers
say what their inputs looked like in training. :func:`bn_statistics` runs the user's inputs up to
the first few BatchNorm layers (forward pre-hooks; the forward stops as soon as the last one is
reached; the model's modes, parameters and buffers are restored) and compares each channel's batch
mean and variance with them. :func:`fingerprint_check` scores the inputs as given and the common
mistaken variants (red and blue swapped, 0-255 pixels, another normalization convention) by how far they are from that record, and reports a variant that fits markedly better
(``input.channel_order``, ``input.range``, ``input.mean_std``), with the evidence
("bn1 channel 7: observed mean 2.3 σ from its training mean"). It uses the network alone: it works
on a bare module and a tensor. Calibration: ``python tools/calibrate_bn_inputs.py`` (``docs/diagnose.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

from ..capturing import ModelState, call_model, model_device
from ..io.preprocess import IMAGENET_MEAN, IMAGENET_STD
from ..stats._reduce import reduce_maps
from .result import Finding
from .thresholds import Thresholds

__all__ = ["BNStats", "BNWatch", "Fingerprint", "bn_layers", "bn_statistics", "fingerprint", "fingerprint_check",
           "CONVENTIONS", "FINGERPRINT_CODES"]

CONVENTIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "ImageNet": (IMAGENET_MEAN, IMAGENET_STD),
    "[-1, 1] (mean 0.5, std 0.5)": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "[0, 1] (not normalized)": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
FINGERPRINT_CODES = ("input.channel_order", "input.range", "input.mean_std")
_Z_CAP = 100.0
LOW_VAR = 2.0  # log of how much less a batch may vary than the record before it counts  # a channel's squared z (or log variance ratio) counts at most this much in the score


class _Enough(Exception):
    """Raised by the last needed pre-hook to stop the forward early (never reaches the user)."""


def _recorded(m: nn.Module) -> bool:
    """Whether a BatchNorm layer holds a record of training inputs (not its initial mean 0, variance 1)."""
    if not isinstance(m, nn.modules.batchnorm._BatchNorm) or m.running_mean is None or m.running_var is None:
        return False
    return not (bool((m.running_mean == 0).all()) and bool((m.running_var == 1).all()))


def _norm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The BatchNorm layers with a record; none when the first one has none (a random-init network)."""
    norms = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    return [(name, m) for name, m in norms if _recorded(m)] if norms and _recorded(norms[0][1]) else []


def bn_layers(model: nn.Module) -> bool:
    """Whether ``model`` has BatchNorm layers whose running statistics record training inputs.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    >>> bn_layers(net), bn_layers(nn.Conv2d(3, 4, 3))  # at init (mean 0, variance 1) there is no record
    (False, False)
    >>> _ = net[1].running_var.fill_(2.0)
    >>> bn_layers(net)
    True
    """
    return bool(_norm_layers(model))


@dataclass
class BNStats:
    """One BatchNorm layer's inputs against its running statistics, per channel (pooled over the inputs).

    ``z``: (batch mean - running mean) / sqrt(running var + eps); ``log_var``: log of the batch variance over
    the running variance (each + eps).
    """

    name: str
    z: torch.Tensor
    log_var: torch.Tensor

    @property
    def score(self) -> float:
        """Mean over channels of z² plus the squared excess of log_var, each capped: 0 when the batch fits.

        The variance counts when it is above the record, or more than ``LOW_VAR`` (in log) below it: a few
        low-contrast photos vary much less than a training batch, which no preprocessing mistake explains.
        """
        excess = self.log_var.clamp_min(0) + (-self.log_var - LOW_VAR).clamp_min(0)
        return float((self.z.square().clamp_max(_Z_CAP) + excess.square().clamp_max(_Z_CAP)).mean())

    def worst(self) -> tuple[int, float]:
        """The channel whose mean is furthest from its training mean, and its z."""
        index = int(self.z.abs().argmax())
        return index, float(self.z[index])

    def evidence(self) -> str:
        channel, z = self.worst()
        return (f"{self.name} channel {channel}: observed mean {abs(z):.1f} σ {'above' if z > 0 else 'below'} "
                f"its training mean")


@dataclass
class Moments:
    """Per input, one BatchNorm layer's input moments: ``mean`` and ``var`` (N, C) over the positions, and the
    layer's record (``running_mean``, ``running_var`` + eps). Inputs pool exactly (:meth:`stats`)."""

    name: str
    mean: torch.Tensor
    var: torch.Tensor
    running_mean: torch.Tensor
    running_var: torch.Tensor
    eps: float

    def take(self, index: Any) -> "Moments":
        return Moments(self.name, self.mean[index], self.var[index], self.running_mean, self.running_var, self.eps)

    def stats(self) -> BNStats:
        """The batch's mean and variance (within inputs plus between their means) against the record."""
        mean = self.mean.mean(0)
        var = self.var.mean(0) + self.mean.var(0, unbiased=False)
        z = (mean - self.running_mean) / self.running_var.sqrt()
        log_var = torch.log((var + self.eps) / self.running_var)
        return BNStats(self.name, z, log_var)


def _moments(name: str, module: nn.Module, x: torch.Tensor) -> Moments:
    r = reduce_maps(x.detach() if x.dim() > 2 else x.detach()[:, :, None], moments=True)  # sums and a norm per map
    mean, var = r.mean, r.m2 / r.count.clamp_min(1)
    record = (module.running_mean.detach(), module.running_var.detach() + module.eps)
    running_mean, running_var = (v.to(device="cpu", dtype=torch.float64, copy=True) for v in record)
    return Moments(name, mean.to("cpu", torch.float64), var.to("cpu", torch.float64), running_mean, running_var,
                   float(module.eps))


def bn_moments(model: nn.Module, x: torch.Tensor, layers: int = 3,
               norms: Optional[list[tuple[str, nn.Module]]] = None) -> list[Moments]:
    """Per input, the moments of the inputs of the first ``layers`` BatchNorm layers (in execution order).

    The forward stops once the last of them is reached; BatchNorm runs in eval mode (running statistics
    untouched), and the model's modes, parameters and buffers are restored, also when the forward raises.
    ``norms``: :func:`_norm_layers` of the model when the caller has it (one walk for many calls).
    """
    norms = _norm_layers(model) if norms is None else norms
    if not norms or layers <= 0:
        return []
    seen: list[Moments] = []
    done: set[int] = set()

    def hook(name: str) -> Callable[..., None]:
        def pre(module: nn.Module, args: tuple) -> None:
            if id(module) in done or not args or not isinstance(args[0], torch.Tensor) or args[0].dim() < 2:
                return
            done.add(id(module))
            seen.append(_moments(name, module, args[0]))
            if len(seen) >= layers:
                raise _Enough
        return pre

    device, dtype = model_device(model)
    x = x.to(device=device, dtype=dtype or x.dtype)
    with ModelState(model) as state:
        for name, module in norms:
            state.hook(module, hook(name), pre=True)
        with state.forward(), torch.inference_mode(False), torch.no_grad():
            try:
                call_model(model, x)
            except _Enough:
                pass
    return seen


class BNWatch:
    """The moments :func:`bn_moments` gives for the inputs as given, read from forwards someone else runs
    (diagnose's own run over the inputs), so the fingerprint needs no forward of its own for them.

    While entered, a forward pre-hook on each recorded BatchNorm layer keeps, per forward, the moments of the
    first ``layers`` of them reached (execution order, as :func:`bn_moments`); after each forward,
    :meth:`take` says which inputs of that batch they belong to. The first ``limit`` inputs with the first
    batch's shape are kept (as :func:`~layerscope.diagnosis.inputs.first_inputs` keeps them), so
    :attr:`moments` are those of ``bn_moments(model, first_inputs(...)[:limit], layers)``: a map's moments do
    not depend on its batch (:func:`~layerscope.stats._reduce.reduce_maps`), only the forward's own
    arithmetic may (a convolution run on 32 inputs instead of 16: about 1e-7 relative).

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4))
    >>> _ = net[1].running_var.fill_(2.0), net[3].running_var.fill_(3.0), net.eval()
    >>> x = torch.randn(5, 3, 8, 8)
    >>> with BNWatch(net, layers=2, limit=3) as watch, torch.no_grad():
    ...     _ = net(x[:2]); watch.take(x[:2])
    ...     _ = net(x[2:]); watch.take(x[2:])
    >>> [torch.equal(a.mean, b.mean) for a, b in zip(watch.moments, bn_moments(net, x[:3], 2))]
    [True, True]
    """

    def __init__(self, model: nn.Module, layers: int = 3, limit: int = 16) -> None:
        self.model, self.layers, self.limit = model, layers, limit
        self.norms = _norm_layers(model) if layers > 0 and limit > 0 else []
        self._parts: list[list[Moments]] = []  # per batch kept: the moments of its first BatchNorm layers
        self._now: list[Moments] = []
        self._done: set[int] = set()
        self._shape: Optional[tuple] = None
        self._kept = 0
        self._handles: list[Any] = []

    def __enter__(self) -> "BNWatch":
        for name, module in self.norms:
            self._handles.append(module.register_forward_pre_hook(self._hook(name)))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str) -> Callable[..., None]:
        def pre(module: nn.Module, args: tuple) -> None:
            if (self._kept >= self.limit or id(module) in self._done or len(self._now) >= self.layers or not args
                    or not isinstance(args[0], torch.Tensor) or args[0].dim() < 2):
                return
            self._done.add(id(module))
            self._now.append(_moments(name, module, args[0][: self.limit - self._kept]))
        return pre

    def take(self, batch: Any) -> None:
        """The forward just run was on ``batch``: keep its moments when its inputs are among the first kept."""
        now, self._now, self._done = self._now, [], set()
        if not isinstance(batch, torch.Tensor) or batch.dim() != 4 or self._kept >= self.limit:
            return
        if self._shape is None:
            self._shape = tuple(batch.shape[1:])
        if tuple(batch.shape[1:]) != self._shape or not now:
            return
        if self._parts and len(now) != len(self._parts[0]):
            self._kept = self.limit  # another path through the network: no moments (the fingerprint runs its own)
            self._parts = []
            return
        self._parts.append(now)
        self._kept += int(now[0].mean.shape[0])

    @property
    def moments(self) -> Optional[list[Moments]]:
        """Per layer, the moments of the kept inputs (None when nothing was kept)."""
        if not self._parts:
            return None
        return [Moments(first.name, torch.cat([part[i].mean for part in self._parts]),
                        torch.cat([part[i].var for part in self._parts]), first.running_mean, first.running_var,
                        first.eps) for i, first in enumerate(self._parts[0])]


def bn_statistics(model: nn.Module, x: torch.Tensor, layers: int = 3) -> list[BNStats]:
    """The inputs of the first ``layers`` BatchNorm layers on the batch ``x``, against their record."""
    return [m.stats() for m in bn_moments(model, x, layers)]


def _score(moments: Sequence[Moments], index: Any = None) -> float:
    stats = [(m if index is None else m.take(index)).stats() for m in moments]
    return float(sum(s.score for s in stats) / len(stats)) if stats else math.nan


@dataclass
class Fingerprint:
    """The inputs as given and each mistaken variant, as moments at the first BatchNorm layers.

    ``moments``: variant name -> per-layer :class:`Moments` (``"as given"`` first); ``kinds``: variant name
    -> the finding code it would mean. :meth:`scores` pools any subset of the inputs.
    """

    moments: dict[str, list[Moments]]
    kinds: dict[str, str]
    colour: Optional[torch.Tensor] = None  # per input: not grayscale (only these can be in the wrong channel order)

    def scores(self, index: Any = None) -> dict[str, float]:
        """Variant name -> score (mean over the layers of :attr:`BNStats.score`) of the inputs ``index`` (all)."""
        return {name: _score(moments, index) for name, moments in self.moments.items()}

    def given(self, index: Any = None) -> list[BNStats]:
        return [(m if index is None else m.take(index)).stats() for m in self.moments["as given"]]

    def evidence(self, index: Any = None) -> str:
        """The worst channel of the layer furthest from its record, in words."""
        return max(self.given(index), key=lambda s: s.score).evidence()

    def _colour_index(self, index: Any) -> Optional[torch.Tensor]:
        """The inputs of ``index`` (all: None) that are in colour; None when there is none."""
        colour = self.colour if self.colour is not None else torch.ones(len(self.moments["as given"][0].mean),
                                                                         dtype=torch.bool)
        chosen = torch.arange(len(colour)) if index is None else torch.as_tensor(index, dtype=torch.long).reshape(-1)
        kept = chosen[colour[chosen]]
        return kept if len(kept) else None

    def ratios(self, index: Any = None) -> dict[str, tuple[str, float, float]]:
        """Finding code -> ``(its best-fitting variant, its score / the given score, the given score)``.

        The channel order is judged on the colour inputs only: red and blue swapped is the same grayscale
        image, so a grayscale photo can say nothing about it (and none is judged without a colour input).
        """
        scores = self.scores(index)
        given = scores.pop("as given")
        colour = self._colour_index(index)
        in_colour = self.scores(colour) if colour is not None else {}
        best: dict[str, tuple[str, float, float]] = {}
        for name, score in scores.items():
            code = self.kinds[name]
            base = given
            if code == "input.channel_order":
                if colour is None:
                    continue
                score, base = in_colour[name], in_colour["as given"]
            ratio = score / base if base > 0 else math.inf
            if code not in best or ratio < best[code][1]:
                best[code] = (name, ratio, base)
        return best

    def verdict(self, t: Thresholds, index: Any = None) -> Optional[tuple[str, float, float]]:
        """``(variant, its score / the given score, the given score)`` of the variant that fits markedly better
        (at most ``bn_order_ratio`` for a channel swap, ``bn_ratio`` for the others, with the given score at
        least ``bn_floor``), the best such; else None."""
        cut = {"input.channel_order": t.bn_order_ratio}
        flagged = [found for code, found in self.ratios(index).items()
                   if found[2] >= t.bn_floor and found[1] <= cut.get(code, t.bn_ratio)]
        return min(flagged, key=lambda found: found[1]) if flagged else None

    def to_dict(self, index: Any = None) -> dict[str, Any]:
        stats = self.given(index)
        worst = max(stats, key=lambda s: s.score)
        channel, z = worst.worst()
        return {"layers": [s.name for s in stats], "scores": self.scores(index),
                "layer_scores": {s.name: s.score for s in stats},
                "worst": {"layer": worst.name, "channel": channel, "z": z}}


def _affine(mean_from, std_from, mean_to, std_to, scale: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """x normalized with (mean_from, std_from) -> pixels (times ``scale``) -> normalized with (mean_to, std_to)."""
    def apply(x: torch.Tensor) -> torch.Tensor:
        def col(v):
            return torch.tensor(v, dtype=x.dtype, device=x.device)[:, None, None]
        return ((x * col(std_from) + col(mean_from)) * scale - col(mean_to)) / col(std_to)
    return apply


def _swapped(mean, std) -> Callable[[torch.Tensor], torch.Tensor]:
    """Red and blue swapped in pixel space: normalization undone, channels reversed, normalization redone."""
    to_pixels, to_inputs = _affine(mean, std, (0.0,) * 3, (1.0,) * 3), _affine((0.0,) * 3, (1.0,) * 3, mean, std)
    return lambda x: to_inputs(to_pixels(x).flip(1))


def variants(mean: Sequence[float], std: Sequence[float]) -> dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """Name -> (finding code, transform) of each plausible mistake's correction, for inputs expected to be
    normalized with ``mean`` / ``std``: red and blue swapped, 0-255 pixels scaled, another convention's mean/std.

    >>> sorted({code for code, _ in variants((0.5,) * 3, (0.5,) * 3).values()})
    ['input.channel_order', 'input.mean_std', 'input.range']

    A wrong input size has no variant: in the calibration, resizing 112-pixel photos to the network's 224 did
    not fit its record better than the photos as given (ROC AUC below 0.5), so sizes stay with the metadata
    check (``input.size``).
    """
    conventions = dict(CONVENTIONS)
    if not any(tuple(mean) == m and tuple(std) == s for m, s in conventions.values()):
        conventions["the model's"] = (tuple(mean), tuple(std))
    out: dict[str, tuple[str, Callable]] = {}
    for a, (ma, sa) in conventions.items():
        out[f"with red and blue swapped ({a} pixels)"] = ("input.channel_order", _swapped(ma, sa))
    for a, (ma, sa) in conventions.items():
        for b, (mb, sb) in conventions.items():
            if a != b:
                out[f"normalized with {a}'s mean/std, re-normalized to {b}"] = ("input.mean_std", _affine(ma, sa, mb, sb))
        out[f"as 0-255 pixels, scaled to [0, 1] and normalized to {a}"] = (
            "input.range", _affine((0.0,) * 3, (1.0,) * 3, ma, sa, 1 / 255))
    out["as 0-255 pixels normalized as if in [0, 1], scaled to [0, 1] first"] = (
        "input.range", _affine(mean, std, mean, std, 1 / 255))
    return out


def fingerprint(model: nn.Module, x: torch.Tensor, preprocessing: Any = None, layers: int = 3, *,
                decoded: bool = False, given: Optional[list[Moments]] = None) -> Optional[Fingerprint]:
    """The moments of ``x`` as given and of each of :func:`variants` at the first ``layers`` BatchNorm layers.

    None when the model has no BatchNorm with running statistics, or ``x`` is not an (N, 3, H, W) batch.
    ``preprocessing``: the expected one (its mean / std; None: ImageNet's). ``decoded``: the inputs are image
    files layerscope decoded and normalized with that very preprocessing, so neither their range nor their
    mean/std can be off, only the channel order stored in the files: the one variant with red and blue
    swapped is tried (each variant costs an early-stopped forward; there are 14 otherwise). ``given``: the
    moments of ``x`` as given when a forward already read them (:class:`BNWatch`; used when they are of as many
    inputs as ``x``), else an early-stopped forward reads them.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
        return None
    if not bn_layers(model):
        return None
    mean = tuple(getattr(preprocessing, "mean", None) or IMAGENET_MEAN)
    std = tuple(getattr(preprocessing, "std", None) or IMAGENET_STD)
    mean, std = (mean * 3)[:3], (std * 3)[:3]
    x = x.detach().to(torch.float32)
    norms = _norm_layers(model)
    if given is None or not given or len(given[0].mean) != len(x) or len(given) > layers:
        given = bn_moments(model, x, layers, norms)
    if not given:
        return None
    moments, kinds = {"as given": given}, {"as given": ""}
    tried = variants(mean, std)
    if decoded:
        own = next((n for n, (m, sd) in CONVENTIONS.items() if tuple(m) == mean and tuple(sd) == std), "the model's")
        tried = {name: v for name, v in tried.items() if name == f"with red and blue swapped ({own} pixels)"}
    for name, (code, apply) in tried.items():
        moments[name], kinds[name] = bn_moments(model, apply(x), layers, norms), code
    return Fingerprint(moments, kinds, colour_inputs(x))


_FIX = {
    "input.channel_order": "Convert to RGB before preprocessing: cv2.cvtColor(img, cv2.COLOR_BGR2RGB), img[..., ::-1] "
                           "for arrays, or x.flip(1) for (N, C, H, W) tensors.",
    "input.range": "Scale the pixels to [0, 1] (divide by 255; transforms.ToTensor() does) before normalizing.",
    "input.mean_std": "Normalize with the mean/std the network was trained with (see the variant named).",
}
_WHAT = {
    "input.channel_order": "the images are probably in BGR order (OpenCV's) while the network was trained on RGB",
    "input.range": "the inputs look like 0-255 pixels that were never scaled to [0, 1]",
    "input.mean_std": "the inputs look normalized with another convention than the network was trained with",
}


def fingerprint_check(fp: Optional[Fingerprint], t: Thresholds = Thresholds()) -> list[Finding]:
    """At most one finding: the variant that fits the BatchNorm record markedly better than the inputs as given.

    A variant is flagged when its score is at most ``bn_ratio`` times the given score and the given score is
    at least ``bn_floor`` (inputs that fit the record need no correction).
    """
    found = fp.verdict(t) if fp is not None else None
    if found is None:
        return []
    name, ratio, given = found
    code = fp.kinds[name]
    severity = "error" if code == "input.range" else "warning"  # as the generic 0-255 check says it
    values = {**fp.to_dict(), "variant": name, "variant_score": ratio * given, "given_score": given, "ratio": ratio}
    message = (f"The network's BatchNorm statistics say {_WHAT[code]}: the inputs {name} fit the statistics its first "
               f"normalized layers recorded in training {1 / max(ratio, 1e-12):.1f}x better (score "
               f"{ratio * given:.3g} vs {given:.3g} as given; 0 is a perfect fit). Evidence: {fp.evidence()}.")
    fix = _FIX[code] + (f" Here: the inputs {name}." if code in ("input.mean_std", "input.range") else "")
    return [Finding(code, severity, message, fix, values)]


def colour_inputs(x: torch.Tensor, limit: float = 0.9999) -> torch.Tensor:
    """Per input of an (N, 3, H, W) batch: whether it is in colour (see :func:`grayscale_inputs`).

    >>> gray = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
    >>> colour_inputs(torch.cat([gray * 2 - 1, torch.rand(1, 3, 8, 8)])).tolist()
    [False, True]
    """
    return ~grayscale_inputs(x, limit)[0]


def grayscale_inputs(x: torch.Tensor, limit: float = 0.9999) -> tuple[torch.Tensor, torch.Tensor]:
    """Per input of an (N, 3, H, W) batch: ``(grayscale, varying)``. Grayscale: every channel varies and they
    are perfectly correlated (correlation, not equality, so a per-channel normalization leaves a grayscale
    image grayscale); varying: no channel is constant (a constant image is neither gray nor colour)."""
    flat = x.detach().to(torch.float64).flatten(2)
    if not bool(torch.isfinite(flat.sum()).item()):
        flat = torch.nan_to_num(flat)
    largest = torch.maximum(flat.amax(-1), -flat.amin(-1))  # (N, 3): the largest magnitude
    centred = flat - flat.mean(-1, keepdim=True)
    gram = centred @ centred.transpose(1, 2)  # (N, 3, 3): one product for the norms and both correlations
    norm = torch.diagonal(gram, dim1=1, dim2=2).sqrt()  # (N, 3)
    varying = (norm > 1e-9 * largest.clamp_min(1)).all(-1)
    safe = norm.clamp_min(1e-300)
    corr = lambda a, b: gram[:, a, b] / (safe[:, a] * safe[:, b])  # noqa: E731
    gray = varying & (corr(0, 1) >= limit) & (corr(0, 2) >= limit)
    return gray.cpu(), varying.cpu()
