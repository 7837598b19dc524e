"""Sections that plug into the report: blocks of tables, figures and text, and dataset examples per channel.

A result that wants a place in the report (a comparison of two checkpoints, a dataset scan)
describes itself with these blocks; the report draws them with its own components, so nothing
else builds HTML. Give them to :func:`layerscope.report` as ``sections=[...]`` (a :class:`Section`,
or any object with a ``report_section()`` method returning one or a list) and, for the channel
viewer, ``examples=`` (a mapping ``layer -> channel -> [Example, ...]``, or an object with a
``report_examples()`` method returning one).

>>> import numpy as np
>>> s = Section("cka", "Comparison", [Text("Layers that changed most first."),
...                                   Table(("layer", "cka"), [("conv1", 0.91)])], kind="comparison")
>>> [type(b).__name__ for b in as_sections([s])[0].blocks]
['Text', 'Table']
>>> examples = as_examples({"conv1": {3: [Example(np.zeros((4, 4, 3), np.uint8), "img 17", score=2.5)]}})
>>> examples["conv1"]["3"][0]["caption"], examples["conv1"]["3"][0]["src"][:22]
('img 17', 'data:image/png;base64,')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from ..atlas.layout import Atlas
from ..core.examples import Example
from ..errors import InputError
from .atlas import AtlasMap
from .images import data_uri

__all__ = ["Section", "Table", "Figure", "Text", "Example", "AtlasMap", "as_sections", "atlas_section", "as_examples", "examples_section", "example_dict",
           "SECTION_KINDS"]

SECTION_KINDS = ("dataset", "comparison", "extra")  # where a section goes: after the layers, in this order


@dataclass(frozen=True)
class Text:
    """Paragraphs of plain text (escaped like every string)."""

    paragraphs: Union[str, Sequence[str]]

    def items(self) -> list[str]:
        return [self.paragraphs] if isinstance(self.paragraphs, str) else [str(p) for p in self.paragraphs]


@dataclass(frozen=True)
class Table:
    """A table of plain values; floats are shown with 4 significant digits."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""

    def cells(self) -> list[list[str]]:
        return [[_cell(value) for value in row] for row in self.rows]


@dataclass(frozen=True)
class Figure:
    """Pictures side by side: ``images`` are ``(image, caption)`` pairs (PNG bytes, an RGB array, a PIL
    image or a ChannelGrid)."""

    images: Sequence[tuple[Any, str]]
    caption: str = ""

    def sources(self) -> list[tuple[str, str]]:
        return [(data_uri(image), str(caption)) for image, caption in self.images]


Block = Union[Text, Table, Figure, AtlasMap]


@dataclass(frozen=True)
class Section:
    """A titled part of the report. ``kind`` places it: ``dataset``, ``comparison`` or ``extra``."""

    id: str
    title: str
    blocks: Sequence[Block] = field(default_factory=tuple)
    kind: str = "extra"

    def __post_init__(self) -> None:
        if self.kind not in SECTION_KINDS:
            raise InputError(f"Section kind {self.kind!r} is not one of {', '.join(SECTION_KINDS)}.")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", self.id):
            raise InputError(f"Section id {self.id!r} must be a letter then letters, digits, '-' or '_' (an anchor).")
        for block in self.blocks:
            if not isinstance(block, (Text, Table, Figure, AtlasMap)):
                raise InputError(f"Section {self.id!r}: a block must be a Text, Table, Figure or AtlasMap, got {type(block).__name__}.")


def as_sections(items: Any) -> list[Section]:
    """Sections from ``Section`` objects and results with ``report_section()``, in kind order."""
    out: list[Section] = []
    single = isinstance(items, (Section, Atlas)) or hasattr(items, "report_section")
    for item in [items] if single else list(items or ()):
        made = item.report_section() if not isinstance(item, Section) and hasattr(item, "report_section") else item
        made = atlas_section(made) if isinstance(made, Atlas) else made
        for section in made if isinstance(made, (list, tuple)) else [made]:
            if not isinstance(section, Section):
                raise InputError(
                    f"sections= takes layerscope.reporting.Section objects or results with a report_section() "
                    f"method; got {type(section).__name__}."
                )
            out.append(section)
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise InputError(f"Two report sections share an id: {sorted(i for i in ids if ids.count(i) > 1)[0]!r}.")
    return sorted(out, key=lambda s: SECTION_KINDS.index(s.kind))


def atlas_section(atlas: Atlas, *, id: str = "atlas") -> Section:
    """The report section of a dataset :class:`~layerscope.atlas.Atlas`: its summary and its zoomable map."""
    what = f"Dataset atlas of {atlas.layer}" if atlas.layer else "Dataset atlas"
    note = ("Each cell holds the points UMAP placed there; its pictures are the members nearest its centre, "
            "its colour the most common label. Scroll to zoom, drag to pan, click a cell for its members.")
    return Section(id, what, [Text([atlas.summary(), note]), AtlasMap.of(atlas)], kind="dataset")


def as_examples(examples: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``layer -> channel (as a string) -> [example dicts]`` for the page script, from a mapping of
    :class:`Example` lists, a result with ``report_examples()`` or a list of such results (channel cards)."""
    if examples is None:
        return {}
    if isinstance(examples, (list, tuple)) and all(hasattr(item, "report_examples") for item in examples):
        merged: dict[str, dict[str, list[dict[str, Any]]]] = {}  # several results, e.g. channel cards
        for item in examples:
            for layer, channels in as_examples(item).items():
                for channel, found in channels.items():
                    merged.setdefault(layer, {}).setdefault(channel, []).extend(found)
        return merged
    if hasattr(examples, "report_examples"):
        examples = examples.report_examples()
    if not isinstance(examples, Mapping):
        raise InputError(f"examples= takes a mapping layer -> channel -> [Example, ...], got {type(examples).__name__}.")
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for layer, channels in examples.items():
        for channel, items in channels.items():
            if not all(isinstance(e, Example) for e in items):
                raise InputError(f"examples[{layer!r}][{channel!r}] must be a list of layerscope.reporting.Example.")
            out.setdefault(str(layer), {})[str(int(channel))] = [example_dict(e) for e in items]
    return out


def example_dict(example: Example) -> dict[str, Any]:
    """What the page script reads of an :class:`~layerscope.core.examples.Example`: its picture as a data URI."""
    return {"src": data_uri(example.image), "caption": str(example.caption),
            "score": None if example.score is None else float(example.score),
            "box": None if example.box is None else [int(v) for v in example.box]}


def examples_section(examples: Mapping[str, Mapping[str, list]]) -> Optional[Section]:
    """The report's section saying which channels have dataset examples (they show in the channel viewer)."""
    if not examples:
        return None
    rows = [(layer, len(channels), ", ".join(sorted(channels, key=int)[:24]) + (" ..." if len(channels) > 24 else ""))
            for layer, channels in examples.items()]
    return Section("dataset-examples", "Dataset examples per channel", [
        Text("The inputs of a dataset that made each channel fire most: open a channel (click it in a grid) to see "
             "them beside its map."),
        Table(("layer", "channels with examples", "channels"), rows)], kind="dataset")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
