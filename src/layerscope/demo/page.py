"""``start-here.png`` of the demo: a trained network beside its untrained copy, where the two differ.

Four rows, each a trained panel on the left and the same architecture untrained on the right:

1. the digits network's first-layer filters (its ``conv1`` weights, 5x5, one signed scale per panel);
2. the maps those filters make of one held-out digit;
3. the photo network's (EfficientNet-Lite0) first-block maps of a public-domain cat photo;
4. a deeper block (``blocks.4``) shown by what its channels respond to: for its most selective channels, crops
   around their largest values in a small offline photo set (:func:`~layerscope.zoo.sample_photo_set`).

Every grid has channel numbers and a colour scale. One font throughout (the bitmap font of
:mod:`layerscope.render.font`), white background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from ..run.once import capture
from ..render._viewkit import text_band
from ..render.grid import render_grids
from ..render.png import encode_png
from ..render.views import captioned

__all__ = ["start_here", "top_crops", "Crop"]

GAP = 12
DEEP, STRIDE = "blocks.4", 16  # EfficientNet-Lite0's 5th of 7 blocks: 112 channels, one cell per 16x16 pixels
SET_SIDE = 224  # pixels: the shorter side of each photo of the photo set (sample_photo_set(SET_SIDE, SET_PHOTOS))
SET_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")  # objects; the textures add cost only
BOX, SHOWN_CROP = 64, 64  # pixels: the square cut around a cell (in the photo set's scale), and as drawn
CHANNELS, BEST = 4, 5  # deep channels shown per network, best places per channel


def _image(path: Path, height: Optional[int] = None) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    if height is not None and image.height != height:
        width = max(1, round(image.width * height / image.height))
        image = image.resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(image)


def _stack(parts: Sequence[np.ndarray], axis: int, gap: int = GAP) -> np.ndarray:
    """``parts`` side by side (``axis=1``) or one under another (``axis=0``), ``gap`` apart, on white."""
    across = 1 - axis
    shape = [0, 0, 3]
    shape[axis] = sum(p.shape[axis] for p in parts) + gap * (len(parts) - 1)
    shape[across] = max(p.shape[across] for p in parts)
    canvas = np.full(shape, 255, np.uint8)
    start = 0
    for part in parts:
        window = [slice(0, part.shape[0]), slice(0, part.shape[1])]
        window[axis] = slice(start, start + part.shape[axis])
        canvas[tuple(window)] = part
        start += part.shape[axis] + gap
    return canvas


def _grid(maps: torch.Tensor, **options: Any) -> np.ndarray:
    """The maps ``(C, H, W)`` as a grid with channel numbers and a colour scale, as RGB."""
    fields = {"labels": True, "colorbar": True, "padding": 2, **options}
    return render_grids(maps.detach().float()[None], **fields)[0].rgb


def _pair(left: np.ndarray, right: np.ndarray, what: str, left_says: str, right_says: str) -> np.ndarray:
    """A trained panel and an untrained one, each under its own caption, with ``what`` above both."""
    body = _stack([captioned(left, left_says), captioned(right, right_says)], axis=1, gap=3 * GAP)
    title = text_band([what], body.shape[1], left_aligned=True)
    return np.concatenate([title, body])


def _resize(pixels: np.ndarray, side: int) -> np.ndarray:
    if pixels.shape[:2] == (side, side):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((side, side), Image.Resampling.BILINEAR))


@dataclass(frozen=True)
class Crop:
    """One of a channel's best places in the photo set: the photo, the map cell, the value there."""

    photo: str
    row: int
    col: int
    score: float


def top_crops(model: Any, photos: dict[str, np.ndarray], layer: str, *, channels: int = CHANNELS,
              best: int = BEST) -> list[tuple[int, list[Crop]]]:
    """The ``channels`` most selective channels of ``layer`` over ``photos`` (name -> uint8 ``(H, W, 3)``, each
    normalized to [-1, 1] as EfficientNet-Lite takes it), each with its ``best`` places: the largest values of its
    maps, at least 3 cells apart within a photo. A channel's selectivity: how far the mean of its ``best`` values
    stands above its median value, in standard deviations over every position of every photo.

    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([1.0, 0, 0, 0, 0, 0]).reshape(2, 3, 1, 1)); _ = model[0].bias.zero_()
    >>> photo = np.zeros((8, 8, 3), np.uint8); photo[2, 5, 0] = 255; photo[6, 1, 0] = 200
    >>> [(c, [(p.row, p.col) for p in found]) for c, found in top_crops(model, {"a": photo}, "0", channels=1, best=2)]
    [(0, [(2, 5), (6, 1)])]
    """
    maps = {}
    for name, pixels in photos.items():
        x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1).float()[None] / 255
        maps[name] = capture(getattr(model, "module", model), (x - 0.5) / 0.5, [layer], stop_early=True)[layer][0].float()
    flat = torch.cat([m.flatten(1) for m in maps.values()], dim=1)  # (C, every position)
    top = flat.topk(min(best, flat.shape[1]), dim=1).values.mean(dim=1)
    selectivity = (top - flat.median(dim=1).values) / flat.std(dim=1).clamp_min(1e-12)
    found = []
    for c in torch.argsort(-selectivity, stable=True)[:channels].tolist():
        candidates = []
        for name, m in maps.items():
            width = m.shape[-1]
            values = m[c].flatten()
            for j in torch.argsort(-values, stable=True)[: 4 * best].tolist():
                candidates.append(Crop(name, j // width, j % width, float(values[j])))
        candidates.sort(key=lambda crop: -crop.score)
        picked: list[Crop] = []
        for crop in candidates:
            if not any(p.photo == crop.photo and abs(p.row - crop.row) < 3 and abs(p.col - crop.col) < 3 for p in picked):
                picked.append(crop)
            if len(picked) == best:
                break
        found.append((c, picked))
    return found


def _crop(pixels: np.ndarray, crop: Crop, stride: int, box: int) -> np.ndarray:
    """The ``box``-pixel square around the centre of the map cell of ``crop`` (``stride`` pixels per cell)."""
    h, w = pixels.shape[:2]
    top = min(max(0, crop.row * stride + stride // 2 - box // 2), max(0, h - box))
    left = min(max(0, crop.col * stride + stride // 2 - box // 2), max(0, w - box))
    return np.ascontiguousarray(pixels[top : top + box, left : left + box])


def _crop_panel(found: list[tuple[int, list[Crop]]], photos: dict[str, np.ndarray], stride: int) -> np.ndarray:
    rows = []
    for channel, crops in found:
        tiles = [_resize(_crop(photos[c.photo], c, stride, BOX), SHOWN_CROP) for c in crops]
        label = text_band([f"ch {channel}"], 8 * 6, left_aligned=True)
        label = np.pad(label, [(0, SHOWN_CROP - label.shape[0]), (0, 0), (0, 0)], constant_values=255)
        row = _stack([label, *tiles], axis=1, gap=3)
        note = text_band(["values " + ", ".join(f"{c.score:.3g}" for c in crops)], row.shape[1], left_aligned=True)
        rows.append(np.concatenate([row, note]))
    return _stack(rows, axis=0, gap=4)


def start_here(digits_trained: Any, digits_untrained: Any, digit: Path, photo_models: Optional[tuple[Any, Any]] = None,
               photo: Optional[Path] = None, photo_set: Optional[dict[str, np.ndarray]] = None,
               prediction: str = "") -> bytes:
    """The PNG bytes of the page: the digits network (``digits_trained``, ``digits_untrained``: loaded models) on
    ``digit``; with ``photo_models`` (pretrained, untrained), their early maps of ``photo`` and their deep
    channels' best places in ``photo_set`` (name -> uint8 ``(H, W, 3)``, :func:`~layerscope.zoo.sample_photo_set`).
    ``prediction``: what the pretrained network says of
    the photo, written under it.
    """
    rows = []
    weights = [m.module.conv1.weight[:, 0] for m in (digits_trained, digits_untrained)]
    rows.append(_pair(*(_grid(w, normalize="signed-layer", scale=8, columns=4) for w in weights),
                      "1. digits network (builtin:digits), first layer conv1: its 16 filters (5x5 weights)",
                      "trained on handwritten digits: smooth stroke and edge detectors",
                      "untrained (random init): salt-and-pepper noise"))
    maps = [capture(m, [str(digit)], ["conv1"])["conv1"][0] for m in (digits_trained, digits_untrained)]
    rows.append(_stack([captioned(_image(digit, 96), "input: held-out digit"),
                        _pair(*(_grid(m, normalize="layer", scale=3, columns=4) for m in maps),
                              "2. the maps those filters make of this digit (conv1 output, 16 x 24x24)",
                              "trained: strokes lit on one side, dark on the other (edges)",
                              "untrained: faint, speckled copies of the digit")], axis=1))
    if photo_models is not None and photo is not None:
        early = [capture(m, [str(photo)], ["blocks.0"], stop_early=True)["blocks.0"][0, :8] for m in photo_models]
        said = ("pretrained says: " + ", ".join(prediction.split(", ")[:2])) if prediction else "input: a public-domain photo"
        rows.append(_stack([captioned(_image(photo, 150), said),
                            _pair(*(_grid(m, normalize="channel", columns=4) for m in early),
                                  "3. photo network (EfficientNet-Lite0), first block: 8 of its 16 maps (112x112)",
                                  "ImageNet-pretrained: edges, fur texture, eye contours",
                                  "untrained: the light and shade of the photo in every map")], axis=1))
        if photo_set:
            panels = [_crop_panel(top_crops(m, photo_set, DEEP), photo_set, STRIDE) for m in photo_models]
            rows.append(_pair(*panels, f"4. deeper, {DEEP} (112 channels, 14x14): {CHANNELS} most selective channels, "
                              f"each by its {BEST} best {BOX}px crops of {len(photo_set)} offline photos",
                              "pretrained: each channel its own pattern (lights on dark, eyes)",
                              "untrained: the same mix (cup, face, rocket) in every channel"))
    body = _stack(rows, axis=0, gap=2 * GAP)
    header = text_band(["What a trained network sees (left) vs the same network untrained (right)"], body.shape[1],
                       left_aligned=True)
    page = _stack([header, body], axis=0, gap=4)
    return _palette_png(np.pad(page, [(6, 6), (6, 6), (0, 0)], constant_values=255))


def _palette_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB page in 256 colours (median cut, no dither): a third of the RGB file's size, the
    photos' gradients slightly banded."""
    image = Image.fromarray(np.ascontiguousarray(pixels)).quantize(256, Image.Quantize.MEDIANCUT,
                                                                   dither=Image.Dither.NONE)
    indices = np.asarray(image)
    palette = np.asarray(image.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)[: int(indices.max()) + 1]
    return encode_png(indices, palette=palette)
