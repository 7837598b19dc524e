"""Model level: does the network look trained? Its weights first, then its output's confidence, then map noise.

>>> tendency([], Thresholds()).label
'unknown'
>>> import torch.nn as nn
>>> tendency([], Thresholds(), model=nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))).label  # BN never updated
'untrained'

The weights are read first, with no data (:func:`~layerscope.diagnosis.weights.weight_evidence`:
BatchNorm statistics still at their init, weight spectra within the Marchenko-Pastur bulk of a random
matrix, first-layer filters that are white noise): they say the same on any input, and on a photo of
something the network has no class for. When they decide, they are the tendency.

A classifier's confidence is secondary: a trained classifier is confident on the images it was made for,
but unsure on anything else (a page of text for an ImageNet network), so its confidence can support
"trained" and never, alone, makes a model "untrained".

Last, the maps: random-init filters applied to an image give image-like first-layer maps (a random
filter is a blurred edge detector), so the first layer with maps is left out; the deeper layers of a
random-init network drift towards speckle while a trained network keeps them smooth. The score is the
layer's noise score relative to the input's own noise score at the layer's resolution (smooth inputs
such as upsampled digits make every map smoother), so one cut point serves digits and photos alike.
The cut points and the separation measured are in ``docs/diagnose.md``.
"""

from __future__ import annotations

import math
import statistics
from typing import Optional, Sequence

from torch import nn

from .inputs import InputStats
from .outputs import ClassifierOutputs
from .result import CAVEAT, LayerDiagnosis, Tendency
from .thresholds import Thresholds
from .weights import WeightEvidence, weight_evidence

__all__ = ["tendency", "first_nonfinite", "confidence_words"]


def tendency(layers: Sequence[LayerDiagnosis], t: Thresholds, inputs: Optional[InputStats] = None,
             outputs: Optional[ClassifierOutputs] = None, model: Optional[nn.Module] = None,
             weights: Optional[WeightEvidence] = None) -> Tendency:
    """The weights of ``model`` when they decide (see :func:`~layerscope.diagnosis.weights.weight_evidence`),
    else a confident classifier's output (``trained`` only), else the median (relative) noise score of the
    layers after the first one with maps, against the cut points.

    ``inputs`` (the :class:`~layerscope.diagnosis.inputs.InputStats`) makes the data-driven signals "unclear"
    when the inputs themselves are noise or blank: then neither the maps nor the output say anything.
    ``weights``: the model's :func:`~layerscope.diagnosis.weights.weight_evidence` when the caller has it.
    """
    if weights is None and model is not None:
        weights = weight_evidence(model, t)
    said = list(weights.evidence) if weights is not None else []
    confident = confidence_words(outputs, t) if outputs is not None else None
    if weights is not None and (weights.decided or _conflict(weights)):
        return _from_weights(weights, confident, t)
    blank = inputs is not None and inputs.images and inputs.constant * 2 >= inputs.images
    if blank or (inputs is not None and inputs.noise is not None and inputs.noise >= t.input_noise):
        why = (f"{inputs.constant} of {inputs.images} inputs are constant images, whose maps show only biases and "
               f"padding" if blank else f"the inputs themselves look like noise (mean noise score {inputs.noise:.2f}), "
               f"and maps of noise are speckled whether the network is trained or not")
        return Tendency("unclear", None, [], f"Tendency: unclear — {why}{_weights_note(weights)}. Diagnose real "
                        f"images to judge the model (see the input findings).", CAVEAT, said, "inputs", weights)
    if confident is not None and confident[1] == "confident":
        return Tendency("trained", outputs.position if outputs is not None else None, [],
                        f"Tendency: looks trained: its output is {confident[0]}{_weights_note(weights)}.",
                        CAVEAT, said + [f"output: {confident[0]}"], "confidence", weights)
    return _from_maps(layers, t, weights, said, confident)


def _conflict(weights: WeightEvidence) -> bool:
    """The weights' signals disagree (say, trained spectra with BatchNorm never updated): a finding of its own."""
    return weights.label == "unclear" and any("disagree" in e or "BatchNorm never saw" in e for e in weights.evidence)


def _from_weights(weights: WeightEvidence, confident: Optional[tuple[str, str]], t: Thresholds) -> Tendency:
    words = {"trained": "looks trained", "untrained": "looks untrained (or not learning)",
             "unclear": "unclear"}[weights.label]
    message = f"Tendency: {words}, judged from its weights (no data needed): {'; '.join(weights.evidence)}."
    said = list(weights.evidence)
    if confident is not None:
        said.append(f"output: {confident[0]}")
        if weights.label == "trained" and confident[1] == "confident":
            message += f" Its output agrees: {confident[0]}."
        elif weights.label == "trained":
            message += (f" Its output is {confident[0]}: a trained classifier is, on images unlike the ones it was "
                        f"trained on.")
        elif confident[1] == "confident":
            message += f" Yet its output is {confident[0]}: a kind of training these signals miss?"
        else:
            message += f" Its output is {confident[0]}."
    names = [s.name for s in weights.spectra]
    return Tendency(weights.label, weights.score, names, message, CAVEAT, said, "weights", weights)


def _weights_note(weights: Optional[WeightEvidence]) -> str:
    if weights is None or weights.label == "unknown":
        return ""
    return f" (the weights alone do not decide: {'; '.join(weights.evidence)})"


def _from_maps(layers: Sequence[LayerDiagnosis], t: Thresholds, weights: Optional[WeightEvidence], said: list[str],
               confident: Optional[tuple[str, str]]) -> Tendency:
    output = f" Its output is {confident[0]}, which alone says nothing about training." if confident else ""
    said = said + ([f"output: {confident[0]}"] if confident else [])
    scored = [layer for layer in layers if layer.noise is not None]
    if not scored:
        return Tendency("unknown", None, [], "Tendency: unknown — no layer has spatial maps of at least "
                        f"{t.min_noise_size}x{t.min_noise_size}, so there is no noise score to judge from"
                        f"{_weights_note(weights)}.{output}", CAVEAT, said, "", weights)
    used = scored[1:] if len(scored) > 1 else scored
    relative = all(layer.relative_noise is not None for layer in used)
    if relative:
        score = statistics.median(layer.relative_noise for layer in used)
        low, high, what = t.trained_below, t.untrained_above, "median noise relative to the input's"
    else:
        score = statistics.median(layer.noise for layer in used)
        low, high, what = t.abs_trained_below, t.abs_untrained_above, "median noise score"
    where = f"{what} {score:.2f} over {len(used)} layer{'s' if len(used) > 1 else ''}"
    if score <= low:
        label, words = "trained", "looks trained: the deeper maps are smooth, with edges and blobs rather than speckle"
    elif score >= high:
        label, words = "untrained", ("looks untrained (or not learning): the deeper maps drift towards speckle, "
                                     "as in a randomly initialised network")
    else:
        label, words = "unclear", "unclear: the deeper maps are neither clearly smooth nor clearly speckled"
    message = (f"Tendency: {words} ({where}; trained models in the calibration score at most {low:g}, "
               f"random-init ones at least {high:g}){_weights_note(weights)}.{output}")
    return Tendency(label, score, [layer.name for layer in used], message, CAVEAT, said + [f"maps: {where}"], "maps",
                    weights)


def confidence_words(outputs: ClassifierOutputs, t: Thresholds) -> Optional[tuple[str, str]]:
    """What a classifier's output says, in words, and its level: ``confident`` (some input at least
    ``trained_confidence`` of the way from chance to certainty), ``chance`` (every input at most
    ``untrained_confidence``) or ``unsure``; None for a model whose output is not class scores.

    >>> import torch
    >>> seen = ClassifierOutputs()
    >>> seen.update(torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.1, 0.0]]), ["a", "b"])
    >>> confidence_words(seen, Thresholds())
    ('confident (top-class probability 0.96) on 1 of 2 inputs', 'confident')
    """
    position = outputs.position
    if math.isnan(position):
        return None
    n, classes = outputs.count, outputs.classes_count
    inputs = f"{n} input{'s' if n != 1 else ''}"
    if position >= t.trained_confidence:
        return f"confident (top-class probability {outputs.best:.2f}) on {outputs.confident(t.trained_confidence)} " \
               f"of {inputs}", "confident"
    every = "on the" if n == 1 else "on all"
    if position <= t.untrained_confidence:
        return (f"near chance (top-class probability at most {outputs.best:.2f}, chance {1 / classes:.3g} for "
                f"{classes} classes) {every} {inputs}", "chance")
    return f"unsure (top-class probability at most {outputs.best:.2f}) {every} {inputs}", "unsure"


def first_nonfinite(layers: Sequence[LayerDiagnosis]) -> list[str]:
    """A note naming the first layer with NaN/Inf when later layers inherit them."""
    broken = [layer.name for layer in layers if layer.flagged.get("nonfinite")]
    if len(broken) < 2:
        return []
    return [f"NaN/Inf first appear in {broken[0]!r}; the {len(broken) - 1} later layer(s) with NaN/Inf "
            f"probably inherit them, so fix {broken[0]!r} (or its input) first."]
