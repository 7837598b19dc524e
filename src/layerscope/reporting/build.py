"""From a model and inputs (or captured activations, or a diagnosis) to a :class:`~.page.Page`.

One forward captures the chosen layers for every input at once (the inputs are shown side by side on
a shared scale); :func:`layerscope.diagnose` judges the same layers on the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Sequence

import torch

from ..errors import InputError
from ..render.options import RenderOptions
from .images import data_uri, seen_image
from .layer import layer_view
from .page import VIEWS, InputCard, Page, model_card
from ..io.predictions import top_predictions
from .sections import as_examples, as_sections, examples_section

__all__ = ["page_from_model", "page_from_activations", "page_from_diagnosis", "check_views", "MAX_INPUTS"]

MAX_INPUTS = 16  # inputs side by side in one report


def check_views(views: Any) -> tuple[str, ...]:
    """``views`` (None: all, a comma-separated string or a list) checked against :data:`~.page.VIEWS`."""
    from ..errors import did_you_mean

    if views is None:
        return VIEWS
    items = [v.strip() for v in views.split(",")] if isinstance(views, str) else [str(v) for v in views]
    for item in items:
        if item not in VIEWS:
            raise InputError(f"Unknown report view {item!r}.{did_you_mean(item, VIEWS)} Use any of: {', '.join(VIEWS)}.")
    if not items:
        raise InputError(f"views is empty; give any of: {', '.join(VIEWS)}.")
    return tuple(v for v in VIEWS if v in items)


def _batch(feed: Any, max_inputs: int) -> torch.Tensor:
    batches = list(feed)
    if feed.count > max_inputs:
        raise InputError(
            f"A report shows its inputs side by side: {feed.count} inputs are more than {max_inputs}. Pass fewer "
            f"(or max_inputs=N); for many images use `layerscope show` or a dataset scan."
        )
    if not batches or not all(isinstance(b, torch.Tensor) and b.dim() == 4 for b in batches):
        raise InputError("A report renders images: give image files or an (N, C, H, W) tensor as inputs.")
    if len({tuple(b.shape[1:]) for b in batches}) > 1:
        raise InputError("The inputs give tensors of different sizes; set a size (--size N) so they can share a report.")
    return torch.cat(batches)


def _names(sources: Sequence[str]) -> list[str]:
    from pathlib import PurePath

    names = [PurePath(s).name if not s.startswith("<") else f"input {i}" for i, s in enumerate(sources)]
    return [n if names.count(n) == 1 else f"{n} ({i})" for i, n in enumerate(names)]


def page_from_model(
    loaded: Any, inputs: Any, layers: Any, options: RenderOptions, *, views: tuple[str, ...] = VIEWS,
    layouts: Optional[Mapping[str, str]] = None, diagnosis: Any = True, sections: Any = (), examples: Any = None,
    title: Optional[str] = None, max_inputs: int = MAX_INPUTS,
) -> Page:
    """Capture ``layers`` of ``loaded`` on ``inputs`` in one forward and lay out the page."""
    from ..capturing import Recorder
    from ..io.feed import Feed

    feed = Feed.of(inputs[None] if isinstance(inputs, torch.Tensor) and inputs.dim() == 3 else inputs,
                   loaded.preprocessing, max_inputs)
    batch = _batch(feed, max_inputs)
    with Recorder(loaded.module, layers) as rec:
        acts = rec(batch)
    if not len(acts):
        raise InputError("No layer was captured: the selected layers did not run in the forward pass.")
    judged = _diagnosis(diagnosis, views, loaded, batch, layers, layouts)
    plugins, found = _plugins(sections, examples)
    notes = [list(r.notes) for r in feed.images] if feed.images else [[] for _ in range(len(batch))]
    cards = _cards(_names(feed.sources), feed.sources, notes, batch, loaded.preprocessing,
                   loaded.predictions(acts.output, k=5) if "predictions" in views else None)
    return Page(
        title=title or f"layerscope report: {loaded.spec}", model=model_card(loaded), inputs=cards,
        layers=_views(acts, batch, options, layouts, judged), diagnosis=judged, views=views,
        sections=plugins, examples=found,
    )


def page_from_activations(
    acts: Any, inputs: Optional[torch.Tensor], options: RenderOptions, *, views: tuple[str, ...] = VIEWS,
    layouts: Optional[Mapping[str, str]] = None, diagnosis: Any = None, preprocessing: Any = None,
    sections: Any = (), examples: Any = None, title: Optional[str] = None,
) -> Page:
    """A page of activations captured earlier; ``inputs`` (the batch that was fed) gives the input pictures."""
    names = list(acts)
    if not names:
        raise InputError("The activations are empty: nothing was captured, so there is nothing to report.")
    count = int(acts[names[0]].shape[0])
    batch = inputs if isinstance(inputs, torch.Tensor) and inputs.dim() == 4 and len(inputs) == count else None
    labels = [f"input {i}" for i in range(count)]
    output = getattr(acts, "output", None)
    cards = _cards(labels, labels, [[] for _ in labels], batch, preprocessing,
                   top_predictions(output, None, k=5) if "predictions" in views else None)
    judged = diagnosis if diagnosis is not None and not isinstance(diagnosis, bool) else None
    plugins, found = _plugins(sections, examples)
    return Page(title=title or "layerscope report: captured activations", inputs=cards,
                layers=_views(acts, batch, options, layouts, judged), diagnosis=judged, views=views,
                sections=plugins, examples=found)


def page_from_diagnosis(diagnosis: Any, *, sections: Any = (), title: Optional[str] = None) -> Page:
    """A page with the diagnostics only (a :class:`~layerscope.diagnosis.Diagnosis` has no maps)."""
    return Page(title=title or f"layerscope diagnosis: {diagnosis.model}", diagnosis=diagnosis,
                sections=as_sections(sections))


def _plugins(sections: Any, examples: Any) -> tuple[list, dict]:
    """The plug-in sections, with the dataset-examples section first when examples are given."""
    found = as_examples(examples)
    listed = examples_section(found)
    return as_sections(([listed] if listed else []) + list(as_sections(sections))), found


def _diagnosis(diagnosis: Any, views, loaded, batch, layers, layouts) -> Any:
    if diagnosis is False or diagnosis is None or "diagnostics" not in views:
        return None
    if diagnosis is not True:
        return diagnosis
    from ..diagnosis import diagnose

    return diagnose(loaded, batch, layers, layouts=layouts)


def _cards(names, sources, notes, batch, preprocessing, predictions) -> list[InputCard]:
    cards = []
    for i, name in enumerate(names):
        seen = seen_image(batch[i], preprocessing) if batch is not None else None
        cards.append(InputCard(name, str(sources[i]), list(notes[i]), data_uri(seen) if seen is not None else None,
                               predictions[i] if predictions else None))
    return cards


def _views(acts, batch, options, layouts, judged) -> list:
    size = tuple(batch.shape[-2:]) if batch is not None else None
    layouts = dict(layouts or {})
    found = {layer.name: layer for layer in judged.layers} if judged is not None else {}
    return [
        layer_view(name, acts[name], module_type=getattr(acts.info.get(name), "module_type", "") if hasattr(acts, "info") else "",
                   input_size=size, layout=layouts.get(name), options=options, diagnosis=found.get(name))
        for name in acts
    ]
