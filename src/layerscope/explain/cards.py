"""Channel cards: everything layerscope knows about one channel, in one PNG (and one dict for the report).

>>> import torch, torch.nn as nn
>>> from layerscope import Preprocessing
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
>>> pre = Preprocessing(resize=16, crop=(16, 16))
>>> found = card(model, "0", 2, images=torch.rand(2, 3, 16, 16), steps=4, preprocessing=pre)
>>> found.picture().dtype.name, [row["rank"] <= 4 for row in found.importance], found.flags is not None
('uint8', [True, True], True)

A card shows: the channel's feature visualization (:func:`~layerscope.explain.visualization`); with
a scan result (:func:`~layerscope.load_stats`), the top dataset examples as receptive-field crops
and the channel's statistics over the data set (mean, fraction active, histogram of the inputs'
peaks); with ``images``, the diagnosis flags that name the channel (:func:`~layerscope.diagnose`)
and its importance for each image's target class (:func:`~layerscope.explain.attribution`, its
rank among the layer's channels). Drawn with the bitmap font of :mod:`layerscope.render.font`;
the same arguments give the same pixels. In the HTML report, ``layerscope.report(..., examples=[card,
...])`` shows each card when its channel is clicked, above the channel's dataset examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Union

import numpy as np

from ..core.examples import Example
from ..core.jsonio import jsonable
from ..core.outputs import OutputFolder
from ..core.results import Result
from ..diagnosis import diagnose
from ..errors import InputError
from ..io.feed import Feed
from ..render.png import encode_png, save_png
from ..run.subject import Subject
from ..scanning import load_stats
from ._card_draw import draw_card
from .attribution import importance
from .labels import ChannelLabel, channel_labels
from .options import CardOptions
from .visualization import visualize

__all__ = ["card", "Card", "CardOptions"]

PICTURE = "card.png"


@dataclass
class Card(Result):
    """One channel's card: ``visualization`` (H, W, 3) uint8; ``examples`` (crop pixels, top-k entry dict) from a
    scan; ``statistics`` over the scanned data; ``flags`` (diagnosis) and ``importance`` (per image) for the images
    given. Empty parts were not asked for. :meth:`picture` draws it; :meth:`to_dict` is the same without pixels;
    :meth:`save_png` writes the picture, :meth:`save` a folder with ``card.png`` and ``card.json``."""

    index_name: ClassVar[str] = "card.json"

    model: str
    layer: str
    channel: int
    visualization: np.ndarray
    examples: list[tuple[np.ndarray, dict]] = field(default_factory=list)
    statistics: Optional[dict] = None
    flags: Optional[list[str]] = None
    importance: Optional[list[dict]] = None
    label: Optional[ChannelLabel] = None

    def to_dict(self) -> dict:
        return jsonable({"model": self.model, "layer": self.layer, "channel": self.channel,
                         "examples": [entry for _, entry in self.examples], "statistics": self.statistics,
                         "flags": self.flags, "importance": self.importance,
                         "label": self.label.to_dict() if self.label is not None else None}, digits=6)

    def picture(self) -> np.ndarray:
        """The card as an (H, W, 3) uint8 image."""
        return draw_card(self)

    def png_bytes(self) -> bytes:
        return encode_png(self.picture())

    _repr_png_ = png_bytes

    def save_png(self, path: Union[str, Path], *, overwrite: bool = False) -> Path:
        """Write the card as one PNG file (atomically; an existing file only with ``overwrite=True``)."""
        return save_png(self.picture(), path, overwrite=overwrite)

    def write_files(self, folder: OutputFolder) -> None:
        folder.write(self.png_bytes(), PICTURE)

    def save(self, out: Union[str, Path], *, overwrite: bool = False) -> Path:
        """Write the folder ``out``: ``card.png`` and ``card.json`` (the rule of
        :class:`~layerscope.core.outputs.OutputFolder`). For one PNG file, :meth:`save_png`."""
        if Path(out).suffix.lower() == ".png":
            raise InputError(f"Card.save writes a folder (card.png and card.json), and {str(out)!r} names a PNG "
                             f"file; write the picture alone with card.save_png({str(out)!r}).")
        return super().save(out, overwrite=overwrite)

    def summary(self) -> str:
        parts = [f"{len(self.examples)} top dataset examples" if self.examples else "",
                 f"statistics over {self.statistics['inputs']} scanned inputs" if self.statistics else "",
                 f"diagnosis flags {', '.join(self.flags) or 'none'}" if self.flags is not None else "",
                 f"importance on {len(self.importance)} image(s)" if self.importance else ""]
        shown = ", ".join(p for p in parts if p)
        return (f"Channel {self.channel} of {self.layer} ({self.model}): its feature visualization"
                f"{', ' + shown if shown else ''}.")

    def report_examples(self) -> dict:
        """For :func:`layerscope.report` ``examples=`` (one card, or a list of cards): clicking the channel in the
        report shows the card, then its dataset examples."""
        found = [Example(self.picture(), f"channel card of {self.layer} channel {self.channel}")]
        found += [Example(pixels, f"#{entry['rank'] + 1} {entry['source']}", entry["score"])
                  for pixels, entry in self.examples]
        return {self.layer: {self.channel: found}}

    def __repr__(self) -> str:
        parts = [f"{len(self.examples)} examples" if self.examples else "", "statistics" * bool(self.statistics),
                 f"importance on {len(self.importance)} image(s)" if self.importance else ""]
        return f"Card({self.layer!r} channel {self.channel}: {', '.join(p for p in parts if p) or 'visualization'})"


def card(model: Any, layer: str, channel: int, *, stats: Any = None, images: Any = None,
         options: Optional[CardOptions] = None, preprocessing: Any = None, labels: Any = None, **fields: Any) -> Card:
    """The :class:`Card` of ``channel`` of ``layer``; ``model`` a :class:`~layerscope.run.Subject`, spec, module or
    ``LoadedModel`` (``preprocessing=`` replaces its preprocessing); ``stats`` a scan result or its folder,
    ``images`` any inputs (as :func:`layerscope.show` takes them). ``options``: a
    :class:`~layerscope.explain.options.CardOptions` (``target`` the class the importance is for, ``examples`` how
    many top dataset examples, ``steps`` / ``seed`` of the visualization), any of whose fields may be given as a
    keyword: ``card(model, "conv2", 5, images=x, steps=32)``. ``labels``: a
    :class:`~layerscope.explain.labels.ChannelLabels` of the model (or True: label the layer now, from the probe
    set) adds the line "responds to: grating 45°, 8 px (selectivity 5.1)"."""
    options = CardOptions.of(options, **fields)
    if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
        raise InputError(f"channel must be one channel index (an int >= 0), got {channel!r}.")
    subject = Subject.of(model, preprocessing=preprocessing)  # its transforms: a dictionary's latents as channels
    loaded = subject.loaded
    scan = _scan(stats, layer, channel)
    seen = visualize(subject, layer, [channel], options=options.visualization())
    found = Card(loaded.spec, layer, channel, seen.pixels[0])
    if scan is not None:
        found.statistics = {"inputs": scan.inputs, **_statistics(scan[layer], channel)}
        found.examples = _examples(scan, layer, channel, options.examples, subject)
    if images is not None:
        found.flags, found.importance = _judged(subject, layer, channel, images, options.target)
    if labels is not None and labels is not False and layer not in subject.transforms:  # labels are of channels
        found.label = (channel_labels(loaded, [layer], progress=False) if labels is True else labels).label(layer, channel)
    return found


def _scan(stats: Any, layer: str, channel: int) -> Any:
    if stats is None:
        return None
    scan = stats if hasattr(stats, "top") else load_stats(stats)
    if not 0 <= channel < scan[layer].channels:  # scan[layer] raises with the scanned layers
        raise InputError(f"Layer {layer!r} has channels 0..{scan[layer].channels - 1} in the scan; got {channel}.")
    return scan


def _statistics(layer: Any, c: int) -> dict:
    peaks = layer.peaks
    return {"mean": float(layer.mean[c]), "std": float(layer.std[c]), "max": float(layer.max[c]),
            "active": float(layer.active[c]), "active_inputs": float(layer.active_inputs[c]),
            "peaks": {"edges": peaks.edges[c].tolist(), "counts": peaks.counts[c].tolist()}}


def _examples(scan: Any, layer: str, channel: int, k: int, loaded: Any) -> list[tuple[np.ndarray, dict]]:
    """The top ``k`` entries' receptive-field crops, re-run on the model (a mismatch is noted in the entry)."""
    found = []
    for entry in scan.top(layer, channel)[: max(0, int(k))]:
        crop = scan.crop(layer, channel, entry.rank, model=loaded)
        pixels = crop.image if crop.image.shape[-1] == 3 else np.repeat(crop.image[..., :1], 3, axis=-1)
        found.append((pixels, {**entry.to_dict(), "reproduced": crop.matches}))
    return found


def _judged(subject: Subject, layer: str, channel: int, images: Any,
            target: Any) -> tuple[list[str], Optional[list[dict]]]:
    """The diagnosis flags naming ``channel`` on ``images``, and its importance for each image (None for a
    dictionary's latent: importance is computed for channels)."""
    loaded = subject.loaded
    feed = Feed.of(images, loaded.preprocessing)
    batch = feed.one()
    sources = list(feed.sources) or [f"input {i}" for i in range(len(batch))]
    judged = diagnose(subject, batch, [layer])
    flags = sorted(flag for flag, channels in judged.layers[0].flagged.items() if channel in channels)
    if layer in subject.transforms:
        return flags, None
    scores = importance(loaded, batch, [layer], target=target)
    if channel >= scores[layer].shape[1]:
        raise InputError(f"Layer {layer!r} has channels 0..{scores[layer].shape[1] - 1}; got {channel}.")
    rows = []
    for i, (row, cls) in enumerate(zip(scores[layer], scores.target.tolist())):
        value = float(row[channel])
        name = loaded.classes[cls] if loaded.classes and 0 <= cls < len(loaded.classes) else None
        cls = cls if cls >= 0 else scores.goal.describe()  # a target other than a class: what it explains
        rows.append({"input": sources[i] if i < len(sources) else f"input {i}", "target": cls, "class_name": name,
                     "importance": value, "rank": int((row > value).sum()) + 1, "channels": int(row.numel())})
    return flags, rows
