"""Crops of the top-k inputs, rendered on demand from the stored index and box, never stored as pixels.

A scan stores, per top-k entry, the input's global index, its score and the argmax position;
:func:`render_crop` reads that input again, runs the model on it alone and checks that the
channel's score is the stored one (the exactness check of the Deep Visualization Toolbox), then
cuts the receptive-field box out of the input as the model saw it. A mismatch (a changed file, a
different model or preprocessing) is reported on the :class:`Crop`, never hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import torch

from ..capturing import Recorder
from ..core.layout import TokenGeometry, to_maps
from ..errors import InputError
from ..io.images import load_image
from ..io.inputs import resolve_source
from ..io.models import LoadedModel, load_model
from ..io.preprocess import Preprocessing
from ..io.video import frame
from ..render.png import save_png
from ..run.maps import transformed
from ..run.subject import Subject
from .meta import weights_fingerprint

if TYPE_CHECKING:  # result.py imports this module (ScanStats.crop)
    from .result import ScanStats, TopEntry

__all__ = ["Crop", "render_crop", "render_crops", "TOLERANCE"]

TOLERANCE = 1e-4  # relative: a batch of one may round differently from the scan's batches (float32)
_FILES = ("folder", "imagefolder", "list", "files")


@dataclass
class Crop:
    """The ``box`` of one top-k entry's input: ``image`` (h, w, C) uint8 as the model saw it (normalization
    undone), the whole ``input`` (H, W, C), the ``stored`` score, the ``value`` recomputed now, ``matches``."""

    entry: TopEntry
    image: np.ndarray
    input: np.ndarray
    stored: float
    value: float
    matches: bool

    @property
    def message(self) -> str:
        """One line: the entry, and whether its value was reproduced."""
        e = self.entry
        what = f"{e.layer} channel {e.channel} #{e.rank} ({e.source})"
        if self.matches:
            return f"{what}: {e.by} {self.value:.6g} reproduced"
        return (f"{what}: MISMATCH: the scan stored {e.by} {self.stored:.6g}, the model now gives {self.value:.6g}; "
                "the input, the model or the preprocessing changed since the scan")

    def save(self, path: Union[str, Path]) -> Path:
        """Write the crop as a PNG (atomically)."""
        return save_png(self.image[..., 0] if self.image.shape[-1] == 1 else self.image, path)


def _model(stats: ScanStats, model: Any) -> LoadedModel:
    meta = stats.model
    if model is None:
        spec = meta.get("spec", "")
        if spec.startswith("<"):
            raise InputError(f"The scan was of a model given in Python ({spec}); pass model= to render its crops.")
        model = load_model(spec, checkpoint=meta.get("checkpoint"))
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if weights_fingerprint(loaded.module) != meta.get("fingerprint"):
        raise InputError(
            f"The model's weights differ from the scanned model's ({meta.get('spec')}, weights "
            f"{str(meta.get('fingerprint'))[:12]}); pass the model the scan used (model=...)."
        )
    return loaded


def _input(stats: ScanStats, entry: TopEntry, preprocessing: Optional[Preprocessing], data: Any) -> torch.Tensor:
    kind = stats.data.get("kind")
    if data is not None:
        return resolve_source(data, preprocessing).load(entry.index)
    if kind in _FILES:
        return preprocessing(load_image(entry.source).image)
    if kind == "video":
        path, _, number = entry.source.rpartition("#frame=")
        return preprocessing(frame(path, int(number)))
    raise InputError(f"The scan read a {kind} given in Python; pass data= (the same data) to render its crops.")


def _pixels(x: torch.Tensor, preprocessing: Optional[Preprocessing], kind: str) -> np.ndarray:
    """(C, H, W) model input as (H, W, C) uint8 (one channel stays one: small gray crops): images with their
    normalization undone (:meth:`Preprocessing.pixels <layerscope.io.preprocess.Preprocessing.pixels>`), tensors
    min-max scaled."""
    if preprocessing is not None and kind in (*_FILES, "video", "images"):
        pixels = preprocessing.pixels(x)
        if pixels is not None:
            return pixels[..., : x.shape[0]]
    x = x.detach().to(torch.float64).cpu()
    low, high = float(x.min()), float(x.max())
    x = (x - low) / (high - low if high > low else 1.0)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _value(stats: ScanStats, entry: TopEntry, acts: Any, x: torch.Tensor, transforms: dict) -> float:
    """The entry's channel score recomputed from the activations of its input alone (through the layer's
    transform when the scan read it through one)."""
    layer = stats[entry.layer]
    tensor = acts[entry.layer]
    geometry = layer.meta.get("tokens")  # the model's prefix tokens and grid the scan laid the layer out with
    maps = tensor[:, :, None, None] if layer.layout == "NC" else to_maps(
        tensor, layout=layer.layout, input_size=tuple(x.shape[-2:]),
        tokens=TokenGeometry.from_dict(geometry) if geometry else None).maps
    if "transform" in layer.meta:
        if entry.layer not in transforms:
            raise InputError(f"The scan read layer {entry.layer!r} through a transform ({layer.meta['transform']}); "
                             "pass model=Subject.of(model, transforms={layer: dictionary}) to render its crops.")
        maps = transformed(entry.layer, transforms[entry.layer], maps)
    values = maps[0, entry.channel].reshape(-1).to(torch.float64)
    if entry.by == "max":
        return float(values[entry.position[0] * layer.map_size[1] + entry.position[1]])
    finite = values[torch.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


def _module(entry: TopEntry) -> str:
    return entry.layer.split(":")[0].split("#")[0]


def render_crop(stats: ScanStats, entry: TopEntry, *, model: Any = None, data: Any = None,
                tolerance: float = TOLERANCE) -> Crop:
    """Render ``entry``'s crop and check its value (see the module docstring); ``model`` / ``data`` default
    to what the scan's metadata names (needed when the scan was given them in Python)."""
    return render_crops(stats, [entry], model=model, data=data, tolerance=tolerance)[0]


def render_crops(stats: ScanStats, entries: list[TopEntry], *, model: Any = None, data: Any = None,
                 tolerance: float = TOLERANCE) -> list[Crop]:
    """:func:`render_crop` of many entries, in their order: the model is resolved once and each input
    read and run once, alone, for all the entries (of any layers) it appears in."""
    if not entries:
        return []
    transforms = model.transforms if isinstance(model, Subject) else {}
    loaded = _model(stats, model.loaded if isinstance(model, Subject) else model)
    pre = Preprocessing.from_dict(stats.meta["preprocessing"]) if stats.meta.get("preprocessing") else None
    kind = stats.data.get("kind")
    by_input: dict[int, list[int]] = {}
    for position, entry in enumerate(entries):
        by_input.setdefault(entry.index, []).append(position)
    crops: list[Optional[Crop]] = [None] * len(entries)
    with Recorder(loaded.module, sorted({_module(e) for e in entries})) as rec:
        for positions in by_input.values():
            x = _input(stats, entries[positions[0]], pre, data)
            acts, pixels = rec(x[None]), _pixels(x, pre, kind)
            for position in positions:
                entry = entries[position]
                value, stored = _value(stats, entry, acts, x, transforms), float(entry.score)
                matches = abs(value - stored) <= tolerance * max(1.0, abs(stored))
                x0, y0, x1, y1 = entry.box
                crops[position] = Crop(entry, pixels[y0:y1, x0:x1].copy(), pixels, stored, value, matches)
    return crops
