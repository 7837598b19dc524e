"""What a report page holds, independent of how it was computed: model card, inputs, layers, diagnosis, sections.

>>> page = Page(title="t<1>", inputs=[InputCard("a.png")])
>>> html = page.html()
>>> html.startswith("<!DOCTYPE html>"), "t&lt;1&gt;" in html, "Content-Security-Policy" in html
(True, True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .components import diagnosis_context, palettes_hex, render_page
from .images import data_uri
from .layer import LayerView
from .sections import Section

__all__ = ["Page", "InputCard", "VIEWS", "model_card", "shared_pictures"]

VIEWS = ("grid", "mean", "diagnostics", "predictions")  # the parts a report can show (all by default)


@dataclass
class InputCard:
    """One input: its name, where it came from, notes, the picture the model saw (data URI), predictions."""

    name: str
    source: str = ""
    notes: list[str] = field(default_factory=list)
    seen: Optional[str] = None
    predictions: Optional[list[tuple[str, float]]] = None


def model_card(loaded: Any) -> dict[str, Any]:
    """The model card of a :class:`~layerscope.io.LoadedModel`: spec, class, weights, size, preprocessing."""
    module = loaded.module
    try:
        parameters = sum(p.numel() for p in module.parameters())
    except Exception:  # a scripted or exotic module
        parameters = None
    return {
        "spec": loaded.spec, "module": type(module).__name__, "weights": loaded.weights, "parameters": parameters,
        "preprocessing": loaded.preprocessing.describe(),
        "native": loaded.native_preprocessing.describe() if loaded.overrides else None,
        "notes": list(loaded.notes),
    }


@dataclass
class Page:
    """Everything one report shows; :meth:`html` renders it with the page components."""

    title: str
    model: Optional[dict] = None
    inputs: list[InputCard] = field(default_factory=list)
    layers: list[LayerView] = field(default_factory=list)
    diagnosis: Any = None  # a Diagnosis
    sections: list[Section] = field(default_factory=list)
    examples: dict = field(default_factory=dict)
    views: tuple[str, ...] = VIEWS

    @property
    def input_names(self) -> list[str]:
        return [item.name for item in self.inputs]

    @property
    def has_predictions(self) -> bool:
        return any(item.predictions for item in self.inputs)

    @property
    def flagged(self) -> bool:
        return any(view.flagged for view in self.layers)

    def layer_rows(self) -> list[dict[str, Any]]:
        means = "mean" in self.views
        return [
            {"index": i, "name": v.name, "type": v.module_type, "shape": v.shape_text, "layout": v.layout or "?",
             "verdict": v.verdict, "reason": v.reason, "notes": v.error or "; ".join(v.notes),
             "thumbs": list(v.means) if means and v.means else [None] * (len(self.inputs) if means else 0)}
            for i, v in enumerate(self.layers)
        ]

    def data(self) -> dict[str, Any]:
        """The page script's JSON: layers (numbers, names), inputs, palettes, dataset examples (each of their
        pictures once, in ``pictures``; an example names its own by index, ``picture``)."""
        cmaps = tuple(sorted({v.cmap for v in self.layers}))
        shown = {v.name for v in self.layers}  # examples of layers the page does not show would be dead weight
        examples, pictures = shared_pictures({name: found for name, found in (self.examples or {}).items()
                                              if name in shown})
        return {
            "mode": "report", "layers": [v.data() for v in self.layers],
            "inputs": [{"name": item.name} for item in self.inputs],
            "palettes": palettes_hex(cmaps), "examples": examples, "pictures": pictures,
        }

    def nav(self) -> list[tuple[str, str]]:
        links = [("model", "Model")] if self.model else []
        links += [("inputs", "Inputs")] if self.inputs else []
        links += [("overview", "Layers")] if self.layers else []
        links += [("diagnostics", "Diagnostics")] if self.diagnosis is not None else []
        links += [("layers", "Channels")] if self.layers and "grid" in self.views else []
        return links + [(f"section-{s.id}", s.title) for s in self.sections]

    def html(self) -> str:
        anchors = {v.name: i for i, v in enumerate(self.layers)}
        context = {
            "model": self.model, "inputs": self.inputs if self.inputs else [], "layers": self.layers,
            "input_names": self.input_names, "has_predictions": self.has_predictions, "flagged": self.flagged,
            "layer_rows": [{**row, "thumbs": [_uri(t) for t in row["thumbs"]]} for row in self.layer_rows()],
            "overview": self._overview(), "sections": self.sections, "views": self.views,
            "diagnosis": diagnosis_context(self.diagnosis, anchors) if self.diagnosis is not None else None,
        }
        return render_page("report.html", title=self.title, data=self.data(), nav=self.nav(), page=context)

    def _overview(self) -> str:
        count = len(self.layers)
        mean = ", with each input's mean map over channels" if "mean" in self.views and self.inputs else ""
        return f"{count} layer{'s' if count != 1 else ''} in the order they ran{mean}."


def shared_pictures(examples: dict[str, dict[str, list[dict]]]) -> tuple[dict, list[str]]:
    """``examples`` (:func:`~.sections.as_examples`' dicts) with each picture (``src``) replaced by its index in a
    list of the distinct pictures: a picture many examples show (a whole input, the receptive field of a deep
    layer) is embedded once.

    >>> same = {"src": "data:image/png;base64,AAAA", "caption": "a"}
    >>> shared_pictures({"conv": {"0": [same], "1": [same, {**same, "src": "data:image/png;base64,BBBB"}]}})
    ({'conv': {'0': [{'caption': 'a', 'picture': 0}], '1': [{'caption': 'a', 'picture': 0}, {'caption': 'a', 'picture': 1}]}}, ['data:image/png;base64,AAAA', 'data:image/png;base64,BBBB'])
    """
    index: dict[str, int] = {}
    out = {layer: {channel: [{**{k: v for k, v in item.items() if k != "src"},
                              "picture": index.setdefault(item["src"], len(index))} for item in items]
                   for channel, items in channels.items()} for layer, channels in examples.items()}
    return out, list(index)


def _uri(data: Optional[bytes]) -> Optional[str]:
    return None if data is None else data_uri(data)
