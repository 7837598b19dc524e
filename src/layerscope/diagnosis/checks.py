"""One function per input finding; :func:`~layerscope.diagnosis.inputs.check_inputs` runs them in order.

>>> from ..io import Preprocessing
>>> [f.code for f in mean_std_check(Preprocessing(), Preprocessing().with_overrides(mean=(0.5,), std=(0.5,)))]
['input.mean_std']

Each finding names what was seen (with numbers) and the fix. ``expected`` is the
preprocessing the model expects; ``used`` the one the image inputs went through.
The calibration of every number is in ``docs/diagnose.md``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .result import Finding
from .thresholds import Thresholds

__all__ = ["value_checks", "mean_std_check", "size_check", "upscaled_check", "grayscale_check", "constant_check",
           "noise_check", "channel_order_check", "channel_order_note"]

NEEDS_CLASSIFIER = "the BGR/RGB test compares a trained classifier's confidence with the red and blue channels swapped"


def _fmt(values: Any) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in values) + ")"


def _normalize_fix(mean, std) -> str:
    return f"Apply Normalize(mean={_fmt(mean)}, std={_fmt(std)}) to pixels scaled to [0, 1] (ToTensor()), once."


def value_checks(cs: Any, expected: Any, t: Thresholds) -> list[Finding]:
    """NaN/Inf, raw 0-255 values, forgotten or mismatched normalization, from the channel statistics."""
    low, high = float(np.nanmin(cs.min)), float(np.nanmax(cs.max))
    if (cs.nan + cs.inf).sum() > 0:
        return [Finding("input.nonfinite", "error",
                        f"The input holds {int(cs.nan.sum())} NaN and {int(cs.inf.sum())} Inf values.",
                        "Find where the data loading produces them (division by zero, empty images) and fix it.",
                        {"nan": int(cs.nan.sum()), "inf": int(cs.inf.sum())})]
    if expected is None:
        if high <= 20:
            return []
        return [Finding("input.range", "warning",
                        f"Input values reach {high:.4g}; almost every model expects pixels scaled to [0, 1] "
                        f"and then normalized, so this looks like raw 0-255 pixels.",
                        "Divide by 255 (transforms.ToTensor does) and apply the model's Normalize(mean, std).",
                        {"min": low, "max": high})]
    mean, std = np.asarray(expected.mean), np.asarray(expected.std)
    lo, hi = (0 - mean) / std, (1 - mean) / std
    bound = float(np.max(np.abs(np.concatenate([lo, hi]))))
    magnitude = max(abs(low), abs(high))
    pixels = (float(np.nanmin(cs.min * std + mean)), float(np.nanmax(cs.max * std + mean)))
    values = {"min": low, "max": high, "expected_min": float(lo.min()), "expected_max": float(hi.max()),
              "range_used": magnitude / bound, "pixel_min": pixels[0], "pixel_max": pixels[1],
              "channel_mean": cs.mean, "channel_std": cs.std}
    norm = f"mean {_fmt(mean)}, std {_fmt(std)}"

    def finding(code: str, severity: str, message: str, fix: str = _normalize_fix(mean, std)) -> list[Finding]:
        return [Finding(code, severity, message, fix, values)]

    if magnitude > t.range_factor * bound:
        how = "raw 0-255 pixels that were never scaled" if low >= 0 else "0-255 pixels normalized as if they were in [0, 1]"
        return finding("input.range", "error",
                       f"Input values reach {high:.4g}, but the model expects normalized input ({norm}), which stays "
                       f"within [{lo.min():.2f}, {hi.max():.2f}]. This looks like {how}.",
                       "Divide the pixels by 255 before normalizing (transforms.ToTensor() does this), "
                       f"then apply Normalize(mean={_fmt(mean)}, std={_fmt(std)}).")
    if low >= 0 and high <= 1 and lo.max() < -0.25:
        return finding("input.normalization", "warning",
                       f"Input values lie in [{low:.2f}, {high:.2f}] with channel means {_fmt(cs.mean)}: the pixels "
                       f"were scaled to [0, 1] but not normalized ({norm}), so every value sits too high.",
                       f"Apply Normalize(mean={_fmt(mean)}, std={_fmt(std)}) after ToTensor().")
    if pixels[0] < -t.normalization_pixel_tol or pixels[1] > 1 + t.normalization_pixel_tol:
        return finding("input.normalization", "warning",
                       f"With the model's normalization ({norm}) undone, the inputs correspond to pixels from "
                       f"{pixels[0]:.2f} to {pixels[1]:.2f}; images in [0, 1] cannot give that. The normalization "
                       f"differs from the model's (the mean subtracted twice or not at all, another std, or "
                       f"normalized twice).")
    if magnitude < t.normalization_range_low * bound:
        return finding("input.normalization", "warning",
                       f"Input values never leave ±{magnitude:.2f}, while images normalized with the model's "
                       f"{norm} reach ±{bound:.2f} (only {100 * magnitude / bound:.0f}% of it is used): the inputs "
                       f"were probably normalized with a larger std, e.g. the common 0.5/0.5 (which gives values in "
                       f"[-1, 1]) instead of the model's, or the images are extremely low-contrast.")
    off = np.abs(cs.mean) > t.normalization_mean
    narrow = (cs.std < t.normalization_std_low) | (cs.std > t.normalization_std_high)
    if off.any() or narrow.any():
        return finding("input.normalization", "warning",
                       f"Channel means {_fmt(cs.mean)} and stds {_fmt(cs.std)} are far from what the model's "
                       f"normalization ({norm}) gives for natural images (means near 0, stds near 1).",
                       "Check that the mean/std match the model's training (e.g. ImageNet's for torchvision "
                       "weights) and that they are applied once, not twice.")
    return []


def mean_std_check(native: Any, used: Any, t: Thresholds = Thresholds(), certain: bool = True) -> list[Finding]:
    """The mean/std the inputs were normalized with against the model's own (``input.mean_std``)."""
    if native is None or used is None or len(native.mean) != len(used.mean):
        return []
    nm, ns, um, us = (np.asarray(v, dtype=float) for v in (native.mean, native.std, used.mean, used.std))
    offset, scale = float(np.max(np.abs(um - nm) / ns)), float(np.max(np.abs(ns / us - 1)))
    if max(offset, scale) <= t.mean_std_tol:
        return []
    ratio = ns / us
    spread = float(ratio[np.argmax(np.abs(np.log(ratio)))])
    message = (f"The inputs were normalized with mean {_fmt(um)}, std {_fmt(us)}, but the model's own preprocessing "
               f"uses mean {_fmt(nm)}, std {_fmt(ns)} [{native.source}]: the first layer sees values {spread:.2g}x as "
               f"spread out as the model's normalization gives, shifted by up to {offset:.2f} of its std.")
    if not certain:
        message += (" The weights come from a checkpoint whose training preprocessing is not recorded, so this "
                    "may be intended.")
    return [Finding("input.mean_std", "warning" if certain else "info", message,
                    "Drop --mean / --std (or the mean/std override) so the model's own values are used, unless the "
                    "weights were trained with the ones given.",
                    {"used": {"mean": list(used.mean), "std": list(used.std)},
                     "native": {"mean": list(native.mean), "std": list(native.std)},
                     "max_offset": offset, "max_scale_change": scale})]


def size_check(sizes: dict, expected: Any, t: Thresholds) -> list[Finding]:
    """Tensor sizes far (``size_ratio``) from the model's input size (``input.size``)."""
    size = getattr(expected, "input_size", None) if expected is not None else None
    if not size:
        return []
    far = {}
    for (h, w), count in sizes.items():
        ratio = max(h / size[0], size[0] / h, w / size[1], size[1] / w)
        if ratio > t.size_ratio:
            far[(h, w)] = (count, ratio)
    if not far:
        return []
    (h, w), (count, ratio) = max(far.items(), key=lambda kv: kv[1][1])
    side = "smaller" if h * w < size[0] * size[1] else "larger"
    return [Finding("input.size", "warning",
                    f"{sum(c for c, _ in far.values())} input(s) are {h}x{w} but the model was trained at "
                    f"{size[0]}x{size[1]} ({ratio:.1f}x {side}); objects appear at a scale the filters never saw.",
                    f"Resize to {size[0]}x{size[1]} (drop --size, or use the model's transforms).",
                    {"size": [h, w], "expected": list(size), "ratio": ratio})]


def upscaled_check(raw_images: Optional[list], used: Any, t: Thresholds) -> list[Finding]:
    """Image files much smaller than the input size, so blown up to reach it (``input.upscaled``).

    A warning when at least half the images are, or one is blown up more than twice ``size_ratio``; a few
    images a little smaller than the input (a 448x172 strip among photos, for a 260-pixel network) are
    correct inputs, said as ``info``."""
    size = getattr(used, "input_size", None) if used is not None else None
    if not raw_images or not size:
        return []
    small = [(name, wh) for name, _, wh in raw_images if max(size[1] / max(wh[0], 1), size[0] / max(wh[1], 1)) > t.size_ratio]
    if not small:
        return []
    name, (w, h) = min(small, key=lambda item: item[1][0] * item[1][1])
    factor = max(size[1] / w, size[0] / h)
    severity = "warning" if len(small) * 2 >= len(raw_images) or factor > 2 * t.size_ratio else "info"
    return [Finding("input.upscaled", severity,
                    f"{len(small)} of {len(raw_images)} images are much smaller than the model's {size[0]}x{size[1]} "
                    f"input (smallest {w}x{h}, {name}) and were upscaled up to {factor:.1f}x, so fine detail is blurred.",
                    "Use larger originals, or a model trained at this resolution.",
                    {"images": len(small), "smallest": [w, h], "upscale": factor})]


def grayscale_check(gray: int, total: int, expected: Any) -> list[Finding]:
    """Most inputs grayscale while the model takes colour (``input.grayscale``): ``info``, not a warning.

    A grayscale photo (a page, the moon, a micrograph) is a correct input for a colour network, which
    sees it as three equal channels; only the loading code knows whether colour was dropped by mistake,
    so this is said, with what to look for, and never makes the headline suspicious."""
    wants_colour = expected is None or getattr(expected, "channels", 3) == 3
    if not wants_colour or total == 0 or gray == 0 or gray * 2 < total:
        return []
    return [Finding("input.grayscale", "info",
                    f"{gray} of {total} inputs are grayscale (the three colour channels are identical) but the "
                    f"model takes colour images; colour cues the filters rely on are missing.",
                    "If the originals are in colour, feed them (look for .convert('L') or cv2.IMREAD_GRAYSCALE in "
                    "loading); if the data really is grayscale, nothing is wrong, but expect weaker colour features.",
                    {"grayscale": gray, "inputs": total})]


def constant_check(constant: int, total: int, t: Thresholds) -> list[Finding]:
    """Blank inputs: (near) zero spatial variance (``input.constant``)."""
    if constant == 0:
        return []
    return [Finding("input.constant", "warning",
                    f"{constant} of {total} inputs are constant images (pixels vary by less than "
                    f"{255 * t.constant_std:.2g}/255 over the image): a blank image gives the filters nothing to "
                    f"respond to, so their maps show only biases and the zero padding at the borders. Those maps "
                    f"are left out of the noise scores.",
                    "Remove blank inputs (black frames, failed loads, all-zero tensors) and diagnose real images.",
                    {"constant": constant, "inputs": total})]


def noise_check(mean_noise: Optional[float], noisy: int, total: int, t: Thresholds) -> list[Finding]:
    """Inputs that are themselves pixel noise (``input.noise``)."""
    if mean_noise is None or mean_noise < t.input_noise:
        return []
    return [Finding("input.noise", "warning",
                    f"The inputs look like noise (mean noise score {mean_noise:.2f}, {noisy} of {total} at or above "
                    f"{t.input_noise:g}; 0 is smooth, 1 is pixel noise, natural photos score below 0.25): feature "
                    f"maps of noise are not informative, and they cannot tell a trained network from an untrained one.",
                    "Diagnose with real images of what the model is meant to see; a handful of photos is enough.",
                    {"input_noise": mean_noise, "noisy_inputs": noisy, "inputs": total})]


def _near_chance(confidence: tuple, t: Thresholds) -> Optional[float]:
    """The chance level when both confidences are near it (see ``channel_order_chance``), else None."""
    if len(confidence) < 3 or not confidence[2]:
        return None
    chance = 1 / confidence[2]
    return chance if max(confidence[:2]) <= chance + t.channel_order_chance * (1 - chance) else None


def channel_order_check(confidence: Optional[tuple], t: Thresholds) -> list[Finding]:
    """BGR input to a trained classifier: more confident with red and blue swapped (``input.channel_order``)."""
    if confidence is None or _near_chance(confidence, t) is not None:
        return []
    given, swapped = confidence[:2]
    if swapped - given < t.channel_order_margin:
        return []
    return [Finding("input.channel_order", "warning",
                    f"The model is more confident with the red and blue channels swapped (mean top-class probability "
                    f"{swapped:.2f} swapped vs {given:.2f} as given): the images are probably in BGR order (OpenCV's) "
                    f"while the model expects RGB. ({NEEDS_CLASSIFIER[0].upper() + NEEDS_CLASSIFIER[1:]}.)",
                    "Convert to RGB before preprocessing: cv2.cvtColor(img, cv2.COLOR_BGR2RGB), img[..., ::-1] "
                    "for arrays, or x.flip(1) for (N, C, H, W) tensors.",
                    {"confidence_given": given, "confidence_swapped": swapped})]


def channel_order_note(confidence: Optional[tuple], t: Thresholds) -> Optional[str]:
    """Why the BGR/RGB check could not judge (not a classifier, predictions near chance), else None."""
    if confidence is None:
        return (f"channel-order check skipped: the model's output is not class scores (N, classes); "
                f"{NEEDS_CLASSIFIER}.")
    chance = _near_chance(confidence, t)
    if chance is None:
        return None
    return (f"channel-order check skipped: the model's predictions are near chance (mean top-class probability "
            f"{max(confidence[:2]):.3f}, chance {chance:.3g} for {confidence[2]} classes; untrained?): "
            f"{NEEDS_CLASSIFIER}, so BGR input cannot be detected here.")
