"""From a model and inputs (or captured activations, or a diagnosis) to a :class:`~.page.Page`.

A consumer of the spine: the model is a :class:`~layerscope.run.Subject`, the inputs go through one
:class:`~layerscope.run.Run` (they are shown side by side on a shared scale, so one report holds at most
``max_inputs``), layer tensors become maps through :class:`~layerscope.run.LayerMaps`, and the predictions
are the subject's (the one rule); the diagnosis judges the same layers from the same forward
(:class:`~layerscope.diagnosis.DiagnosisStream`).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import PurePath
from typing import Any, Optional, Sequence

import torch

from ..diagnosis import DiagnosisStream
from ..errors import InputError
from ..explain.attention import layer_attention, wants_attention
from ..io.predictions import top_predictions
from ..render.options import RenderOptions
from ..render.views import VIEWS as RENDER_VIEWS
from ..run import LayerMaps, Run, RunOptions, Subject
from .images import photo_uri, seen_image
from .layer import OWN_VIEWS, REPORT_DISPLAY, LayerView, layer_view, with_pictures
from .options import ReportOptions, check_views
from .page import InputCard, Page, model_card
from .sections import examples_section

__all__ = ["page_from_model", "page_from_activations", "page_from_diagnosis", "check_views"]

PREDICTIONS = 5  # classes per input card


class _Captured:
    """The report's inputs captured in one run: the batch, each layer's tensor and record, the predictions."""

    def __init__(self, subject: Subject, inputs: Any, options: ReportOptions, run: RunOptions) -> None:
        limit = options.max_inputs
        inputs = inputs[None] if isinstance(inputs, torch.Tensor) and inputs.dim() == 3 else inputs
        self.run = Run(subject, inputs, run.replace(batch_size=limit), desc="report")
        judging = options.diagnosis is True and "diagnostics" in options.views
        self.stream = DiagnosisStream(subject) if judging else None  # judged from this very forward, not another
        batches, tensors, records, self.predictions = [], {}, {}, []
        # the stream's BatchNorm fingerprint reads the inputs as given from this forward too, not from one of its own
        with self.stream.watching() if self.stream is not None else nullcontext():
            for step in self.run:
                if self.run.feed.count > limit:
                    raise InputError(
                        f"A report shows its inputs side by side: more than {limit} inputs were given. Pass fewer "
                        f"(or max_inputs=N); for many images use `layerscope show` or a dataset scan.")
                batches.append(step.batch)
                for name, tensor in step.acts.items():
                    tensors.setdefault(name, []).append(tensor)
                    records.setdefault(name, step.acts.describe(name))
                self.predictions += step.predictions(PREDICTIONS)
                if self.stream is not None:
                    self.stream.update(step)
        if not batches or not all(isinstance(b, torch.Tensor) and b.dim() == 4 for b in batches):
            raise InputError("A report renders images: give image files or an (N, C, H, W) tensor as inputs.")
        if len({tuple(b.shape[1:]) for b in batches}) > 1:
            raise InputError("The inputs give tensors of different sizes; set a size (--size N) so they can share a "
                             "report.")
        self.batch = torch.cat(batches)
        self.tensors = {name: torch.cat(parts) if len(parts) > 1 else parts[0] for name, parts in tensors.items()}
        self.records = records
        if not self.tensors:
            raise InputError("No layer was captured: the selected layers did not run in the forward pass.")


def _names(sources: Sequence[str]) -> list[str]:
    names = [PurePath(s).name if not s.startswith("<") else f"input {i}" for i, s in enumerate(sources)]
    return [n if names.count(n) == 1 else f"{n} ({i})" for i, n in enumerate(names)]


def page_from_model(subject: Subject, inputs: Any, options: ReportOptions, render: RenderOptions,
                    run: Optional[RunOptions] = None) -> Page:
    """Capture the subject's layers on ``inputs`` in one run and lay out the page."""
    seen = _Captured(subject, inputs, options, RunOptions.of(run))
    feed, batch = seen.run.feed, seen.batch
    judged = _diagnosis(options, seen)
    notes = [list(r.notes) for r in feed.images] if feed.images else [[] for _ in range(len(batch))]
    cards = _cards(_names(feed.sources), feed.sources, notes, batch, subject.preprocessing,
                   seen.predictions if "predictions" in options.views else None)
    reader = LayerMaps(subject.layouts, subject.transforms)
    size = tuple(batch.shape[-2:])
    return Page(
        title=options.title or f"layerscope report: {subject.spec}", model=model_card(subject.loaded), inputs=cards,
        layers=_pictured(_views(reader, seen.tensors.items(), seen.records, size, render, judged), options.views,
                         lambda: [seen_image(x, subject.preprocessing) for x in batch],
                         layer_attention(subject, batch, list(seen.tensors), options.views)
                         if wants_attention(options.views)
                         else None), diagnosis=judged,
        views=options.views, sections=_sections(options), examples=options.examples or {},
    )


def page_from_activations(acts: Any, inputs: Optional[torch.Tensor], options: ReportOptions, render: RenderOptions,
                          *, layouts: Any = None, preprocessing: Any = None) -> Page:
    """A page of activations captured earlier; ``inputs`` (the batch that was fed) gives the input pictures."""
    names = list(acts)
    if not names:
        raise InputError("The activations are empty: nothing was captured, so there is nothing to report.")
    count = int(acts[names[0]].shape[0])
    batch = inputs if isinstance(inputs, torch.Tensor) and inputs.dim() == 4 and len(inputs) == count else None
    labels = [f"input {i}" for i in range(count)]
    output = getattr(acts, "output", None)  # no model here: the one rule without class names
    cards = _cards(labels, labels, [[] for _ in labels], batch, preprocessing,
                   top_predictions(output, None, k=PREDICTIONS) if "predictions" in options.views else None)
    judged = options.diagnosis if not isinstance(options.diagnosis, bool) else None
    records = {name: acts.describe(name) if hasattr(acts, "info") else {"module_type": ""} for name in names}
    size = tuple(batch.shape[-2:]) if batch is not None else None
    reader = LayerMaps(layouts)
    return Page(title=options.title or "layerscope report: captured activations", inputs=cards,
                layers=_pictured(_views(reader, acts.items(), records, size, render, judged), options.views,
                                 lambda: [seen_image(x, preprocessing) for x in batch] if batch is not None else None),
                diagnosis=judged,
                views=options.views, sections=_sections(options), examples=options.examples or {})


def page_from_diagnosis(diagnosis: Any, options: ReportOptions) -> Page:
    """A page with the diagnostics only (a :class:`~layerscope.diagnosis.Diagnosis` has no maps)."""
    return Page(title=options.title or f"layerscope diagnosis: {diagnosis.model}", diagnosis=diagnosis,
                sections=list(options.sections))


def _sections(options: ReportOptions) -> list:
    """The plug-in sections, with the dataset-examples section first when examples are given."""
    listed = examples_section(options.examples or {})
    return ([listed] if listed else []) + list(options.sections)


def _diagnosis(options: ReportOptions, seen: _Captured) -> Any:
    if options.diagnosis is False or "diagnostics" not in options.views:
        return None
    if options.diagnosis is not True:
        return options.diagnosis
    return seen.stream.result(seen.run.feed)


def _pictured(views: list[tuple[LayerView, Any]], asked: Sequence[str], seen: Any,
              attention: Optional[dict] = None) -> list[LayerView]:
    """The layer views with the registry's picture views that ``asked`` names (:func:`with_pictures`); ``seen``
    makes the images the inputs show, called only when a picture view is asked for; ``attention`` the layers'
    attention maps (none without a model: the attention view is left out)."""
    if not any(name in RENDER_VIEWS and name not in OWN_VIEWS for name in asked):
        return [view for view, _ in views]
    shown = seen()
    return [with_pictures(view, maps, asked, shown, (attention or {}).get(view.name)) for view, maps in views]


def _cards(names, sources, notes, batch, preprocessing, predictions) -> list[InputCard]:
    cards = []
    for i, name in enumerate(names):
        seen = seen_image(batch[i], preprocessing) if batch is not None else None
        cards.append(InputCard(name, str(sources[i]), list(notes[i]), photo_uri(seen) if seen is not None else None,
                               predictions[i] if predictions else None))
    return cards


def _views(reader: LayerMaps, tensors: Any, records: dict, size: Any, render: RenderOptions, judged: Any
           ) -> list[tuple[LayerView, Any]]:
    """One view per layer, with the maps it was drawn from: read by the run's ``reader`` (a layer it skips shows
    the reason, and has no maps)."""
    found = {layer.name: layer for layer in judged.layers} if judged is not None else {}
    views = []
    for name, tensor in tensors:
        record = records[name]
        maps = reader.maps(name, tensor.detach(), record, size)
        if maps is None:
            views.append((LayerView(name, record["module_type"], tuple(tensor.shape[1:]), error=reader.skipped[name],
                                    **({"verdict": found[name].verdict, "reason": found[name].reason}
                                       if name in found else {})), None))
            continue
        views.append((layer_view(name, maps, module_type=record["module_type"], options=render,
                                 diagnosis=found.get(name), display=REPORT_DISPLAY), maps.maps))
    return views
