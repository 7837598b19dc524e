"""Input checks, reported before anything else: range, normalization, mean/std, size, grayscale, blank, noise.

>>> import torch
>>> from ..io import Preprocessing
>>> yy, xx = torch.meshgrid(torch.arange(224.0), torch.arange(224.0), indexing="ij")
>>> stats = InputStats().update(torch.stack([yy, xx, (yy + xx) / 2])[None])  # 0-255 pixels, never scaled
>>> [f.code for f in check_inputs(stats, Preprocessing())]
['input.range']

Each finding names what was seen (with numbers) and the fix (the checks are in
:mod:`.checks`). Checks that need the model's expected preprocessing (mean, std,
size) are skipped with an ``input.unknown`` note when it is not known.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import nn

from ..capturing import call_model
from ..io.predictions import class_scores, probabilities
from ..stats import ChannelStats, noise_score
from ..stats._reduce import reduce_maps
from . import checks
from .checks import channel_order_note
from .fingerprint import Fingerprint, fingerprint, fingerprint_check, grayscale_inputs
from .provenance import preprocessings
from .result import Finding
from .thresholds import Thresholds

__all__ = ["InputStats", "check_inputs", "input_findings", "swap_confidence", "first_inputs", "RawImage"]

RawImage = tuple[str, str, tuple[int, int]]  # (path or label, original PIL mode, original (W, H))


class InputStats:
    """Streaming statistics of the model inputs: per-channel moments, sizes, grayscale, blank and noise images.

    >>> stats = InputStats().update(torch.zeros(2, 3, 8, 8))
    >>> stats.sizes, stats.constant
    ({(8, 8): 2}, 2)

    ``constant_std`` is the spatial std (in the tensor's units) at or below which an image is
    constant; ``noise`` is the mean noise score of the images (channel mean, full resolution).
    """

    def __init__(self, grayscale_corr: float = 0.9999, constant_std: float = 0.004, noise_level: float = 0.5) -> None:
        self.grayscale_corr = grayscale_corr
        self.constant_std = constant_std
        self.noise_level = noise_level
        self.channels: Optional[ChannelStats] = None
        self.sizes: dict[tuple[int, int], int] = {}
        self.gray = 0
        self.colour = 0
        self.images = 0
        self.constant = 0
        self.noise_sum, self.noise_n, self.noisy = 0.0, 0, 0
        self._last: tuple[Any, Optional[torch.Tensor]] = (None, None)  # the last batch and its constant images
        self.other_shapes: list[tuple[int, ...]] = []

    @property
    def noise(self) -> Optional[float]:
        """Mean noise score of the (non-constant, at least 4x4) images; None when none was scored."""
        return self.noise_sum / self.noise_n if self.noise_n else None

    def constant_inputs(self, batch: torch.Tensor) -> torch.Tensor:
        """Which images of an (N, C, H, W) batch are constant: every channel's spatial std <= ``constant_std``
        (the batch :meth:`update` just read is not reduced again)."""
        if batch is self._last[0] and self._last[1] is not None:
            return self._last[1]
        r = reduce_maps(batch.detach(), moments=True)  # a sum and a norm per map; NaN / Inf make it non-constant
        std = torch.where(r.count == r.size, (r.m2 / r.size).sqrt(), math.inf)
        return (std <= self.constant_std).all(-1)

    def update(self, batch: Any) -> "InputStats":
        """Add one input batch; anything other than a floating (N, C, H, W) tensor is only counted."""
        if not isinstance(batch, torch.Tensor) or batch.dim() != 4:
            self.other_shapes.append(tuple(getattr(batch, "shape", ())))
            return self
        x = batch.detach()
        if self.channels is None:
            self.channels = ChannelStats(x.shape[1], covariance=False, min_noise_size=1 << 30)
        if x.shape[1] != self.channels.channels:
            self.other_shapes.append(tuple(x.shape))
            return self
        self.channels.update(x if x.is_floating_point() else x.to(torch.float64))
        constant = self.constant_inputs(x)
        self._last = (batch, constant)
        self._images(x, constant)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        self.sizes[size] = self.sizes.get(size, 0) + int(x.shape[0])
        if x.shape[1] == 3:
            gray, counted = _grayscale_images(x, self.grayscale_corr)
            self.gray += gray
            self.colour += counted - gray
        return self

    def _images(self, x: torch.Tensor, constant: torch.Tensor) -> None:
        self.images += int(x.shape[0])
        self.constant += int(constant.sum())
        if min(x.shape[-2:]) < 4:
            return
        score = noise_score(x.to(torch.float64).mean(1, keepdim=True))[:, 0]
        scored = torch.isfinite(score) & ~constant.to(score.device)
        self.noise_sum += float(score[scored].sum())
        self.noise_n += int(scored.sum())
        self.noisy += int((score[scored] >= self.noise_level).sum())


def _grayscale_images(x: torch.Tensor, limit: float) -> tuple[int, int]:
    """(grayscale images, non-constant images) of a 3-channel batch (see
    :func:`~layerscope.diagnosis.fingerprint.grayscale_inputs`)."""
    gray, varying = grayscale_inputs(x, limit)
    return int(gray.sum()), int(varying.sum())


@torch.no_grad()
def swap_confidence(model: nn.Module, x: torch.Tensor, mean=None, std=None,
                    given: Optional[tuple[float, int]] = None) -> Optional[tuple[float, float, int]]:
    """``(given, swapped, classes)``: a classifier's mean top-class probability on ``x`` as given and
    with channels 0 and 2 swapped, and its number of classes.

    The swap happens in pixel space (undo the normalization, swap, redo it) when ``mean``/``std``
    are given. None when the output is not ``(N, classes)`` logits or probabilities. ``given``:
    ``(confidence, classes)`` on ``x`` as given, known from a forward already run (then only the
    swapped inputs go through the model).
    """
    def confidence(batch: torch.Tensor) -> Optional[tuple[float, int]]:
        scores = class_scores(call_model(model, batch))
        if scores is None:
            return None
        prob, _ = probabilities(scores)  # the one rule: probabilities are not softmaxed again
        return float(prob.max(1).values.mean()), int(prob.shape[1])

    if mean is not None and std is not None and len(mean) == 3:
        m = torch.tensor(mean, dtype=x.dtype, device=x.device)[:, None, None]
        s = torch.tensor(std, dtype=x.dtype, device=x.device)[:, None, None]
        swapped = ((x * s + m).flip(1) - m) / s
    else:
        swapped = x.flip(1)
    given = given if given is not None else confidence(x)
    if given is None:
        return None
    other = confidence(swapped)
    return None if other is None else (given[0], other[0], given[1])


def check_inputs(
    stats: InputStats,
    preprocessing: Any = None,
    thresholds: Thresholds = Thresholds(),
    *,
    used: Any = None,
    certain: bool = True,
    raw_images: Optional[list[RawImage]] = None,
    confidence: Optional[tuple] = None,
    fingerprint: Optional[Fingerprint] = None,
) -> list[Finding]:
    """Every input finding, most severe first (see the module docstring).

    ``preprocessing`` is the model's own (None: unknown); ``used`` the one the image inputs went
    through when it was overridden. ``certain=False`` says the model's own is only a convention its
    weights (a checkpoint) may not follow: the inputs are then checked against ``used`` and a
    differing mean/std is only ``info``. ``confidence`` is :func:`swap_confidence`'s answer.
    ``fingerprint`` (:func:`~layerscope.diagnosis.fingerprint.fingerprint`, for a BatchNorm network) decides
    the range, mean/std and channel order where it flags one: the generic findings it replaces
    (``input.normalization`` and the same code) are left out, so the two never disagree.
    """
    t, findings = thresholds, []
    expected = preprocessing if certain or used is None else used
    cs = stats.channels.result() if stats.channels is not None and stats.channels.inputs else None
    mismatch = checks.mean_std_check(preprocessing, used, t, certain)
    if cs is not None:
        values = checks.value_checks(cs, expected, t)
        blank = stats.constant * 2 >= stats.images > 0  # channel stds of blank images say nothing
        if blank or (mismatch and mismatch[0].severity == "warning"):  # or input.mean_std says it exactly
            values = [f for f in values if f.code != "input.normalization"]
        findings += values + checks.size_check(stats.sizes, expected, t)
        gray_raw = [n for n, mode, _ in raw_images or [] if mode in ("L", "LA", "1", "I", "I;16", "F")]
        total = max(stats.gray + stats.colour, len(raw_images or []))
        findings += checks.grayscale_check(max(stats.gray, len(gray_raw)), total, expected)
        findings += checks.constant_check(stats.constant, stats.images, t)
        findings += checks.noise_check(stats.noise, stats.noisy, stats.images, t)
    findings += mismatch + checks.upscaled_check(raw_images, used or expected, t)
    findings += checks.channel_order_check(confidence, t)
    decided = fingerprint_check(fingerprint, t)
    if decided:
        replaced = {f.code for f in decided} | ({"input.normalization"} if decided[0].code != "input.channel_order" else set())
        findings = [f for f in findings if f.code not in replaced] + decided
    if preprocessing is None:
        findings.append(Finding(
            "input.unknown", "info",
            "The model's preprocessing is not known, so range and size were checked against generic expectations.",
            "Pass a model spec / LoadedModel, or preprocessing=Preprocessing(...), to check against the real one.",
        ))
    order = ("error", "warning", "info")
    return sorted(findings, key=lambda f: order.index(f.severity))


def first_inputs(batches: list[torch.Tensor], limit: int) -> Optional[torch.Tensor]:
    """The first ``limit`` inputs of the kept batches with the first batch's shape, as one tensor."""
    if not batches or limit <= 0:
        return None
    shape = batches[0].shape[1:]
    return torch.cat([b for b in batches if b.shape[1:] == shape])[:limit]


def input_findings(loaded: Any, stats: InputStats, sample: Optional[torch.Tensor], t: Thresholds = Thresholds(), *,
                   raw_images: Optional[list[RawImage]] = None,
                   channel_order: Any = None, decoded: bool = False,
                   bn_given: Optional[list] = None) -> tuple[list[Finding], list[str]]:
    """``(findings, notes)``: the input checks of ``loaded`` (a ``LoadedModel``) on the streamed ``stats`` and
    the kept ``sample`` (N, C, H, W): :func:`check_inputs`, with the BatchNorm fingerprint on the first
    ``bn_inputs`` of the sample (an early-stopped forward) where the network has BatchNorm. ``decoded``: every
    input is an image file layerscope read and preprocessed itself (the fingerprint then tries only the
    channel order, when that preprocessing is the model's own and certain).

    ``channel_order(loaded, sample, t)`` (diagnose's classifier-confidence check, two full forwards) runs
    only without BatchNorm; None skips it (``show``). Its note says why it could not judge, only for
    colour inputs (a grayscale model has no channel order to check). ``bn_given``: the fingerprint's moments of
    the sample as given, read from a forward already run (:class:`~layerscope.diagnosis.fingerprint.BNWatch`).
    """
    own, used, certain = preprocessings(loaded)
    expected = own if certain or used is None else used
    colour = sample is not None and sample.dim() == 4 and sample.shape[1] == 3
    fp = None
    if colour and t.bn_inputs > 0 and t.bn_layers > 0:
        own_used = own is not None and certain and (used is None or (tuple(used.mean) == tuple(own.mean)
                                                                      and tuple(used.std) == tuple(own.std)))
        fp = fingerprint(loaded.module, sample[: t.bn_inputs], expected, t.bn_layers, decoded=decoded and own_used,
                         given=bn_given)
    confidence, notes = None, []
    if channel_order is not None and colour and fp is None:
        confidence = channel_order(loaded, sample, t)
        notes += [note for note in [channel_order_note(confidence, t)] if note]
    findings = check_inputs(stats, own, t, used=used, certain=certain, raw_images=raw_images,
                            confidence=confidence, fingerprint=fp)
    return findings, notes
