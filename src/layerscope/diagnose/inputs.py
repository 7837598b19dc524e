"""Input checks, reported before anything else: range, normalization, channel order, size, grayscale.

>>> import torch
>>> from ..io import Preprocessing
>>> stats = InputStats().update(torch.full((1, 3, 224, 224), 200.0))
>>> [f.code for f in check_inputs(stats, Preprocessing())]
['input.range']

Each finding names what was seen (with numbers) and the fix. Checks that need
the model's expected preprocessing (mean, std, size) are skipped with an
``input.unknown`` note when it is not known.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from .result import Finding
from .stats import ChannelStats
from .thresholds import Thresholds

__all__ = ["InputStats", "check_inputs", "swap_confidence", "RawImage"]

RawImage = tuple[str, str, tuple[int, int]]  # (path or label, original PIL mode, original (W, H))


def _fmt(values: Any) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in values) + ")"


class InputStats:
    """Streaming statistics of the model inputs: per-channel moments, sizes, grayscale images.

    >>> InputStats().update(torch.zeros(2, 3, 8, 8)).sizes
    {(8, 8): 2}
    """

    def __init__(self, grayscale_corr: float = 0.9999) -> None:
        self.grayscale_corr = grayscale_corr
        self.channels: Optional[ChannelStats] = None
        self.sizes: dict[tuple[int, int], int] = {}
        self.gray = 0
        self.colour = 0
        self.other_shapes: list[tuple[int, ...]] = []

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
        self.channels.update(x.to(torch.float64))
        size = (int(x.shape[-2]), int(x.shape[-1]))
        self.sizes[size] = self.sizes.get(size, 0) + int(x.shape[0])
        if x.shape[1] == 3:
            gray, counted = _grayscale_images(x, self.grayscale_corr)
            self.gray += gray
            self.colour += counted - gray
        return self


def _grayscale_images(x: torch.Tensor, limit: float) -> tuple[int, int]:
    """(grayscale images, non-constant images) of a 3-channel batch: channels perfectly correlated.

    Correlation, not equality, so normalization with per-channel mean/std does not hide it.
    """
    flat = torch.nan_to_num(x.to(torch.float64).flatten(2))
    centered = flat - flat.mean(-1, keepdim=True)
    norm = centered.norm(dim=-1)  # (N, 3)
    varying = (norm > 1e-9 * flat.abs().amax(-1).clamp_min(1)).all(-1)
    safe = norm.clamp_min(1e-300)
    corr01 = (centered[:, 0] * centered[:, 1]).sum(-1) / (safe[:, 0] * safe[:, 1])
    corr02 = (centered[:, 0] * centered[:, 2]).sum(-1) / (safe[:, 0] * safe[:, 2])
    gray = varying & (corr01 >= limit) & (corr02 >= limit)
    return int(gray.sum()), int(varying.sum())


@torch.no_grad()
def swap_confidence(model: nn.Module, x: torch.Tensor, mean=None, std=None) -> Optional[tuple[float, float]]:
    """Mean top-class probability of a classifier on ``x`` as given and with channels 0 and 2 swapped.

    The swap happens in pixel space (undo the normalization, swap, redo it) when ``mean``/``std``
    are given. None when the output is not ``(N, classes)`` logits or probabilities.
    """
    from ..capture import call_model

    def confidence(batch: torch.Tensor) -> Optional[float]:
        out = call_model(model, batch)
        out = getattr(out, "logits", out)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] < 2 or not out.is_floating_point():
            return None
        out = out.to(torch.float64)
        rows = out.sum(1)
        is_prob = bool((out >= 0).all() and torch.allclose(rows, torch.ones_like(rows), atol=1e-3))
        prob = out if is_prob else out.softmax(1)
        return float(prob.max(1).values.mean())

    if mean is not None and std is not None and len(mean) == 3:
        m = torch.tensor(mean, dtype=x.dtype, device=x.device)[:, None, None]
        s = torch.tensor(std, dtype=x.dtype, device=x.device)[:, None, None]
        swapped = ((x * s + m).flip(1) - m) / s
    else:
        swapped = x.flip(1)
    given = confidence(x)
    if given is None:
        return None
    return given, float(confidence(swapped))


def check_inputs(
    stats: InputStats,
    preprocessing: Any = None,
    thresholds: Thresholds = Thresholds(),
    *,
    raw_images: Optional[list[RawImage]] = None,
    confidence: Optional[tuple[float, float]] = None,
) -> list[Finding]:
    """Every input finding, most severe first (see the module docstring)."""
    t, findings = thresholds, []
    cs = stats.channels.result() if stats.channels is not None and stats.channels.inputs else None
    if cs is not None:
        findings += _value_checks(cs, preprocessing, t)
        findings += _size_checks(stats, preprocessing, t)
        findings += _grayscale_check(stats, preprocessing, raw_images)
    findings += _raw_size_check(raw_images, preprocessing, t)
    if confidence is not None and confidence[1] - confidence[0] >= t.channel_order_margin:
        given, swapped = confidence
        findings.append(Finding(
            "input.channel_order", "warning",
            f"The model is more confident with the red and blue channels swapped (mean top-class probability "
            f"{swapped:.2f} swapped vs {given:.2f} as given): the images are probably in BGR order "
            f"(OpenCV's) while the model expects RGB.",
            "Convert to RGB before preprocessing: cv2.cvtColor(img, cv2.COLOR_BGR2RGB), img[..., ::-1] "
            "for arrays, or x.flip(1) for (N, C, H, W) tensors.",
            {"confidence_given": given, "confidence_swapped": swapped},
        ))
    if preprocessing is None:
        findings.append(Finding(
            "input.unknown", "info",
            "The model's preprocessing is not known, so range and size were checked against generic expectations.",
            "Pass a model spec / LoadedModel, or preprocessing=Preprocessing(...), to check against the real one.",
        ))
    order = ("error", "warning", "info")
    return sorted(findings, key=lambda f: order.index(f.severity))


def _value_checks(cs, preprocessing, t: Thresholds) -> list[Finding]:
    low, high = float(np.nanmin(cs.min)), float(np.nanmax(cs.max))
    if (cs.nan + cs.inf).sum() > 0:
        return [Finding("input.nonfinite", "error",
                        f"The input holds {int(cs.nan.sum())} NaN and {int(cs.inf.sum())} Inf values.",
                        "Find where the data loading produces them (division by zero, empty images) and fix it.",
                        {"nan": int(cs.nan.sum()), "inf": int(cs.inf.sum())})]
    if preprocessing is None:
        if high > 20:
            return [Finding("input.range", "warning",
                            f"Input values reach {high:.4g}; almost every model expects pixels scaled to [0, 1] "
                            f"and then normalized, so this looks like raw 0-255 pixels.",
                            "Divide by 255 (transforms.ToTensor does) and apply the model's Normalize(mean, std).",
                            {"min": low, "max": high})]
        return []
    mean, std = np.asarray(preprocessing.mean), np.asarray(preprocessing.std)
    lo, hi = (0 - mean) / std, (1 - mean) / std
    bound = float(np.max(np.abs(np.concatenate([lo, hi]))))
    values = {"min": low, "max": high, "expected_min": float(lo.min()), "expected_max": float(hi.max()),
              "channel_mean": cs.mean, "channel_std": cs.std}
    norm = f"mean {_fmt(mean)}, std {_fmt(std)}"
    if max(abs(low), abs(high)) > t.range_factor * bound:
        how = ("raw 0-255 pixels that were never scaled" if low >= 0
               else "0-255 pixels normalized as if they were in [0, 1]")
        return [Finding("input.range", "error",
                        f"Input values reach {high:.4g}, but the model expects normalized input ({norm}), which "
                        f"stays within [{lo.min():.2f}, {hi.max():.2f}]. This looks like {how}.",
                        "Divide the pixels by 255 before normalizing (transforms.ToTensor() does this), "
                        f"then apply Normalize(mean={_fmt(mean)}, std={_fmt(std)}).", values)]
    if low >= 0 and high <= 1 and lo.max() < -0.25:
        return [Finding("input.normalization", "warning",
                        f"Input values lie in [{low:.2f}, {high:.2f}] with channel means {_fmt(cs.mean)}: the pixels "
                        f"were scaled to [0, 1] but not normalized ({norm}), so every value sits too high.",
                        f"Apply Normalize(mean={_fmt(mean)}, std={_fmt(std)}) after ToTensor().", values)]
    off = np.abs(cs.mean) > t.normalization_mean
    narrow = (cs.std < t.normalization_std_low) | (cs.std > t.normalization_std_high)
    if off.any() or narrow.any():
        return [Finding("input.normalization", "warning",
                        f"Channel means {_fmt(cs.mean)} and stds {_fmt(cs.std)} are far from what the model's "
                        f"normalization ({norm}) gives for natural images (means near 0, stds near 1).",
                        "Check that the mean/std match the model's training (e.g. ImageNet's for torchvision "
                        "weights) and that they are applied once, not twice.", values)]
    return []


def _size_checks(stats: InputStats, preprocessing, t: Thresholds) -> list[Finding]:
    expected = getattr(preprocessing, "input_size", None) if preprocessing is not None else None
    if not expected:
        return []
    far = {}
    for (h, w), count in stats.sizes.items():
        ratio = max(h / expected[0], expected[0] / h, w / expected[1], expected[1] / w)
        if ratio > t.size_ratio:
            far[(h, w)] = (count, ratio)
    if not far:
        return []
    (h, w), (count, ratio) = max(far.items(), key=lambda kv: kv[1][1])
    side = "smaller" if h * w < expected[0] * expected[1] else "larger"
    return [Finding("input.size", "warning",
                    f"{sum(c for c, _ in far.values())} input(s) are {h}x{w} but the model was trained at "
                    f"{expected[0]}x{expected[1]} ({ratio:.1f}x {side}); objects appear at a scale the filters "
                    f"never saw.",
                    f"Resize to {expected[0]}x{expected[1]} (e.g. --size {expected[0]}, or the model's transforms).",
                    {"size": [h, w], "expected": list(expected), "ratio": ratio})]


def _raw_size_check(raw_images, preprocessing, t: Thresholds) -> list[Finding]:
    expected = getattr(preprocessing, "input_size", None) if preprocessing is not None else None
    if not raw_images or not expected:
        return []
    small = [(name, size) for name, _, size in raw_images
             if max(expected[1] / max(size[0], 1), expected[0] / max(size[1], 1)) > t.size_ratio]
    if not small:
        return []
    name, (w, h) = min(small, key=lambda item: item[1][0] * item[1][1])
    factor = max(expected[1] / w, expected[0] / h)
    return [Finding("input.size", "warning",
                    f"{len(small)} of {len(raw_images)} images are much smaller than the model's "
                    f"{expected[0]}x{expected[1]} input (smallest {w}x{h}, {name}) and were upscaled up to "
                    f"{factor:.1f}x, so fine detail is blurred.",
                    "Use larger originals, or a model trained at this resolution.",
                    {"images": len(small), "smallest": [w, h], "upscale": factor})]


def _grayscale_check(stats: InputStats, preprocessing, raw_images) -> list[Finding]:
    wants_colour = preprocessing is None or getattr(preprocessing, "channels", 3) == 3
    gray_raw = [name for name, mode, _ in raw_images or [] if mode in ("L", "LA", "1", "I", "I;16", "F")]
    gray = max(stats.gray, len(gray_raw))
    total = max(stats.gray + stats.colour, len(raw_images or []))
    if not wants_colour or total == 0 or gray == 0 or gray * 2 < total:
        return []
    return [Finding("input.grayscale", "warning",
                    f"{gray} of {total} inputs are grayscale (the three colour channels are identical) but the "
                    f"model takes colour images; colour cues the filters rely on are missing.",
                    "Feed the colour originals (look for .convert('L') or cv2.IMREAD_GRAYSCALE in loading). If "
                    "the data really is grayscale, expect weaker features or fine-tune on grayscale images.",
                    {"grayscale": gray, "inputs": total})]
