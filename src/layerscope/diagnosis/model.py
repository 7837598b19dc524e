"""Model level: does the network look trained? A tendency read from the noise scores across layers.

>>> tendency([], Thresholds()).label
'unknown'

Random-init filters applied to an image give image-like first-layer maps (a random
filter is a blurred edge detector), so the first layer with maps is left out; the
deeper layers of a random-init network drift towards speckle while a trained network
keeps them smooth. The score is the layer's noise score relative to the input's own
noise score at the layer's resolution (smooth inputs such as upsampled digits make
every map smoother), so one cut point serves digits and photos alike. The cut points
and the separation measured are in ``docs/diagnose.md``.

For a classifier fed images, its own output is stronger evidence and comes first: a trained
classifier is confident on the images it was made for, an untrained one sits at chance.
On the ImageNet-trained EfficientNet-Lite0 the maps' noise does not separate trained from
untrained (its fine-resolution maps carry the photos' fine detail), while the confidence does.
"""

from __future__ import annotations

import math
import statistics
from typing import Optional, Sequence

from .inputs import InputStats
from .outputs import ClassifierOutputs
from .result import CAVEAT, LayerDiagnosis, Tendency
from .thresholds import Thresholds

__all__ = ["tendency", "first_nonfinite"]


def tendency(layers: Sequence[LayerDiagnosis], t: Thresholds, inputs: Optional[InputStats] = None,
             outputs: Optional[ClassifierOutputs] = None) -> Tendency:
    """A classifier's confidence (see :func:`classifier_tendency`), else the median (relative) noise score
    of the layers after the first one with maps, against the cut points.

    ``inputs`` (the :class:`~layerscope.diagnosis.inputs.InputStats`) makes it "unclear" when the
    inputs themselves are noise or blank: then neither the maps nor the output say anything.
    """
    blank = inputs is not None and inputs.images and inputs.constant * 2 >= inputs.images
    if blank or (inputs is not None and inputs.noise is not None and inputs.noise >= t.input_noise):
        why = (f"{inputs.constant} of {inputs.images} inputs are constant images, whose maps show only biases and "
               f"padding" if blank else f"the inputs themselves look like noise (mean noise score {inputs.noise:.2f}), "
               f"and maps of noise are speckled whether the network is trained or not")
        return Tendency("unclear", None, [], f"Tendency: unclear — {why}. Diagnose real images to judge the "
                        f"model (see the input findings).", CAVEAT)
    decided = classifier_tendency(outputs, t) if outputs is not None else None
    if decided is not None:
        return decided
    scored = [layer for layer in layers if layer.noise is not None]
    if not scored:
        return Tendency("unknown", None, [], "Tendency: unknown — no layer has spatial maps of at least "
                        f"{t.min_noise_size}x{t.min_noise_size}, so there is no noise score to judge from.", CAVEAT)
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
               f"random-init ones at least {high:g}).")
    return Tendency(label, score, [layer.name for layer in used], message, CAVEAT)


def classifier_tendency(outputs: ClassifierOutputs, t: Thresholds) -> Optional[Tendency]:
    """"trained" / "untrained" from a classifier's confidence, or None when it cannot tell.

    The top-class probability of its most confident input (see
    :attr:`~layerscope.diagnosis.outputs.ClassifierOutputs.position`) is placed between chance (0:
    1 / classes) and certainty (1): at most
    ``untrained_confidence`` is chance level, at least ``trained_confidence`` is a classifier that
    recognises what it sees. In between, or for a model whose output is not class scores, the maps decide.
    """
    position = outputs.position
    if math.isnan(position):
        return None
    where = (f"top-class probability {outputs.best:.3f} on its most confident of {outputs.count} input"
             f"{'s' if outputs.count != 1 else ''}, chance {1 / outputs.classes_count:.3g} for "
             f"{outputs.classes_count} classes: {position:.0%} of the way from chance to certainty")
    if position <= t.untrained_confidence:
        return Tendency("untrained", position, [], f"Tendency: looks untrained (or not learning): its predictions are "
                        f"at chance level ({where}; trained classifiers in the calibration reach at least "
                        f"{t.trained_confidence:.0%} on their kind of images).", CAVEAT)
    if position >= t.trained_confidence:
        return Tendency("trained", position, [], f"Tendency: looks trained: it recognises what it sees ({where}; "
                        f"random-init classifiers in the calibration stay under {t.untrained_confidence:.0%}).", CAVEAT)
    return None


def first_nonfinite(layers: Sequence[LayerDiagnosis]) -> list[str]:
    """A note naming the first layer with NaN/Inf when later layers inherit them."""
    broken = [layer.name for layer in layers if layer.flagged.get("nonfinite")]
    if len(broken) < 2:
        return []
    return [f"NaN/Inf first appear in {broken[0]!r}; the {len(broken) - 1} later layer(s) with NaN/Inf "
            f"probably inherit them, so fix {broken[0]!r} (or its input) first."]
