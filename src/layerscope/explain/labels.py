"""Channel labels from a probe set: which synthetic pattern drives each channel, how selectively, or "no clear match".

>>> import torch, torch.nn as nn
>>> from layerscope import Preprocessing
>>> red = nn.Conv2d(3, 2, 1)                     # channel 0: red minus green and blue, above a threshold
>>> with torch.no_grad():
...     _ = red.weight.zero_(), red.bias.fill_(-3.0), red.weight[1].normal_(generator=torch.Generator().manual_seed(0))
...     red.weight[0, :, 0, 0] = torch.tensor([1.0, -1.0, -1.0])
>>> found = channel_labels(nn.Sequential(red, nn.ReLU()), "1", textures=False, progress=False,
...                        preprocessing=Preprocessing(None, (32, 32)))
>>> [c.label for c in found["1"]]
['hue 0° (red)', 'no clear match']
>>> found["1"][0].line()
'responds to: hue 0° (red) (selectivity 4.9)'

Offline, with no vision-language model. Every probe of :func:`~layerscope.explain.probeset.probe_set`
(hues, oriented gratings, checkerboards, dots, colour-opponent edges, scikit-image's textures), made at
the model's input size, goes through the model's own preprocessing and one
:class:`~layerscope.run.Run` (the spine's capture: hooks owned and removed, batches, device).

**A channel's response to a probe** is the mean of the positive part of its map over the interior (an
eighth of each side left out). Every probe fills the picture, so every position sees the pattern and the
mean counts how much of it drives the channel (a grating at the preferred orientation drives every
stripe; a maximum saturates on any full-contrast edge, so an edge filter's maximum is the same for a
checkerboard, dots and every grating); the positive part reads a raw convolution like a rectified one (the
mean of an edge filter's raw map over a grating is zero); the margin keeps the zero padding's frame,
which an edge filter meets on every picture, out of it.

**A group's response** (``"grating 45°, 8 px"``: a family and its main parameter) is its strongest probe's
(a grating's better phase, a hue's best saturation and value). **The selectivity** of a channel is the
z-score of its best group against all groups (mean and standard deviation over the groups); the label is
that group's name when the selectivity reaches ``threshold``, else ``"no clear match"``. With 57 groups
the z-score is at most 7.5 (one group alone).

**The threshold** (:data:`THRESHOLD` = 4.5) is calibrated on random channels: randomly initialised
(PyTorch's default) ``Conv2d(3, 64, 3)`` + ReLU, then ``Conv2d(64, 64, 3)`` + ReLU, at 64x64 probes,
3 seeds (384 channels): 94.8% of first-layer and 91.1% of second-layer channels score below it, 93.0% in
all (``tests/explain/test_labels.py`` checks at least 90%). A random filter is itself a weak colour or
edge filter, so a few random channels are labelled; and a random *depthwise* layer (each channel reads one
input channel) looks more selective than that: on the untrained EfficientNet-Lite0, ``blocks.1.0.bn2``
labels 36% of its channels. A hand-set detector needs to be a detector to be labelled: an oriented filter
or a colour axis *with a threshold* (its bias); a broad one (a plain 3x3 derivative, which responds to
gratings at every orientation but the orthogonal one) gets "no clear match", with its best group.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image

from ..core.examples import Example
from ..core.jsonio import jsonable
from ..core.options import Options, positive_int
from ..core.results import Result
from ..errors import InputError
from ..capturing.select import LayerSelector
from ..run.loop import Run
from ..run.maps import LayerMaps
from ..run.options import RunOptions
from ..run.progress import progress_field
from ..run.subject import Subject
from .probeset import ProbeSet, probe_set

__all__ = ["channel_labels", "ChannelLabels", "ChannelLabel", "LabelOptions", "THRESHOLD", "NO_MATCH"]

THRESHOLD = 4.5  # z-score of the best probe group; calibrated on random channels (module docstring)
NO_MATCH = "no clear match"


@dataclass(frozen=True)
class LabelOptions(Options):
    """How :func:`channel_labels` labels: ``threshold`` (the selectivity a label needs), ``runners_up`` (how many
    next-best groups are kept), ``seed`` and ``textures`` of the probe set, ``batch_size`` probes per forward."""

    threshold: float = field(default=THRESHOLD, metadata={
        "help": f"selectivity (z-score) a label needs (default {THRESHOLD}, calibrated on random channels)",
        "type": float, "metavar": "Z"})
    runners_up: int = field(default=3, metadata={"help": "next-best probe groups kept per channel (default 3)",
                                                   "type": int, "metavar": "K"})
    seed: int = field(default=0, metadata={"help": "seed of the probe set's texture crops (default 0)", "type": int})
    textures: bool = field(default=True, metadata={
        "help": "leave scikit-image's texture photos out of the probes", "action": "store_false",
        "flag": "--no-textures"})
    batch_size: int = field(default=32, metadata={"help": "probes per forward pass (default 32)", "type": int})
    progress: Optional[bool] = progress_field()

    def __post_init__(self) -> None:
        if not isinstance(self.threshold, (int, float)) or isinstance(self.threshold, bool) or self.threshold <= 0:
            raise InputError(f"threshold={self.threshold!r} must be a positive number (a z-score, e.g. {THRESHOLD}).")
        if isinstance(self.runners_up, bool) or not isinstance(self.runners_up, int) or self.runners_up < 0:
            raise InputError(f"runners_up={self.runners_up!r} must be an int of at least 0.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed={self.seed!r} must be an int.")
        positive_int(self, "batch_size")


@dataclass(frozen=True)
class ChannelLabel:
    """One channel's label: ``label`` (a probe group, or ``"no clear match"``), ``best`` (the best group, even
    below the threshold), ``score`` (its selectivity, a z-score), ``matched`` (score >= threshold),
    ``runners_up`` ((group, score) next best) and ``probe`` (the single probe that drove it most)."""

    channel: int
    label: str
    best: str
    score: float
    matched: bool
    runners_up: tuple[tuple[str, float], ...] = ()
    probe: str = ""

    def line(self) -> str:
        """One line for a card: ``"responds to: grating 45°, 8 px (selectivity 5.1)"``."""
        if self.matched:
            return f"responds to: {self.label} (selectivity {self.score:.1f})"
        return f"responds to: {NO_MATCH} (best {self.best}, selectivity {self.score:.1f})"

    def short(self) -> str:
        """A tile caption: the label, or ``"-"`` for no clear match."""
        return self.label if self.matched else "-"

    def to_dict(self) -> dict:
        return {"channel": self.channel, "label": self.label, "best": self.best, "score": self.score,
                "matched": self.matched, "runners_up": [list(r) for r in self.runners_up], "probe": self.probe}


@dataclass
class ChannelLabels(Result):
    """Labels per layer and channel: ``found[layer][channel]`` is a :class:`ChannelLabel`; ``responses[layer]``
    the (probes, channels) responses; ``probes`` the :class:`~layerscope.explain.probeset.ProbeSet`;
    ``skipped`` the layers that are not maps, with the reason; ``seconds`` the time taken."""

    index_name: ClassVar[str] = "labels.json"

    model: str
    layers: dict[str, list[ChannelLabel]]
    responses: dict[str, np.ndarray]
    probes: ProbeSet
    options: LabelOptions
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def __getitem__(self, layer: str) -> list[ChannelLabel]:
        if layer not in self.layers:
            raise InputError(f"Layer {layer!r} was not labelled; labelled: {', '.join(self.layers) or 'none'}"
                             f"{'; skipped: ' + ', '.join(self.skipped) if self.skipped else ''}.")
        return self.layers[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def label(self, layer: str, channel: int) -> ChannelLabel:
        found = self[layer]
        if not 0 <= channel < len(found):
            raise InputError(f"Layer {layer!r} has channels 0..{len(found) - 1}; got {channel}.")
        return found[channel]

    def matched(self, layer: str) -> float:
        """The fraction of the layer's channels that got a label (not "no clear match")."""
        found = self[layer]
        return sum(c.matched for c in found) / max(1, len(found))

    def table(self) -> list[dict]:
        """Per layer: channels, labelled fraction, and the most common labels."""
        rows = []
        for name, found in self.layers.items():
            counts: dict[str, int] = {}
            for c in found:
                if c.matched:
                    counts[c.label] = counts.get(c.label, 0) + 1
            common = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            rows.append({"layer": name, "channels": len(found), "labelled": self.matched(name),
                         "common": [f"{label} x{n}" for label, n in common]})
        return rows

    def to_dict(self) -> dict:
        return jsonable({"model": self.model, "options": self.options.to_dict(), "threshold": self.options.threshold,
                         "seconds": self.seconds, "probe_set": self.probes.to_dict(), "skipped": self.skipped,
                         "summary": self.table(),
                         "layers": {name: [c.to_dict() for c in found] for name, found in self.layers.items()}},
                        digits=4)

    def summary(self) -> str:
        parts = [f"{row['layer']}: {100 * row['labelled']:.0f}% of {row['channels']} labelled" for row in self.table()]
        return (f"Channel labels of {self.model} from {len(self.probes)} probes in {self.seconds:.1f} s: "
                f"{'; '.join(parts) or 'no layer'}.")

    def report_examples(self, thumbnail: int = 64) -> dict:
        """For :func:`layerscope.report` ``examples=`` (alone, or in a list with channel cards): clicking a channel in
        the report shows its label line under the probe that drove it most, then its runners-up's probes."""
        pictures: dict[int, np.ndarray] = {}

        def picture(index: int) -> np.ndarray:
            if index not in pictures:
                image = Image.fromarray(np.round(self.probes.images[index] * 255).astype(np.uint8))
                pictures[index] = np.asarray(image.resize((thumbnail, thumbnail), Image.Resampling.BOX))
            return pictures[index]

        members: dict[str, list[int]] = {}
        for i, probe in enumerate(self.probes.probes):
            members.setdefault(probe.group, []).append(i)
        found: dict[str, dict[int, list[Example]]] = {}
        for layer, labels in self.layers.items():
            values = self.responses[layer]
            for c in labels:
                if c.best not in members:  # a silent channel
                    continue
                best = max(members[c.best], key=lambda i: values[i, c.channel])
                shown = [Example(picture(best), c.line())]
                for group, score in c.runners_up:
                    top = max(members[group], key=lambda i: values[i, c.channel])
                    shown.append(Example(picture(top), f"runner-up: {group} (selectivity {score:.1f})"))
                found.setdefault(layer, {})[c.channel] = shown
        return found

    def __repr__(self) -> str:
        return f"ChannelLabels({self.model!r}, {len(self.layers)} layers, {len(self.probes)} probes)"


def channel_labels(model: Any, layers: LayerSelector = None, *, options: Optional[LabelOptions] = None,
                   preprocessing: Any = None, device: Union[str, torch.device, None] = None,
                   **fields: Any) -> ChannelLabels:
    """Label every channel of ``layers`` of ``model`` (a spec, module, ``LoadedModel`` or
    :class:`~layerscope.run.Subject`) from the probe set; ``options`` a :class:`LabelOptions`, whose fields may be
    keywords: ``channel_labels("builtin:efficientnet_lite0", "blocks.1.0.bn2", threshold=5)``."""
    options = LabelOptions.of(options, **fields)
    start = time.perf_counter()
    subject = Subject.of(model, layers, preprocessing=preprocessing, device=device)
    pre = subject.preprocessing
    size = pre.input_size or ((pre.resize, pre.resize) if isinstance(pre.resize, int) else (224, 224))
    probes = probe_set(size, seed=options.seed, textures=options.textures)
    inputs = torch.stack([pre(picture) for picture in probes.pictures()])
    responses, skipped = probe_responses(subject, inputs, options)
    labelled = {name: label_channels(values, probes, options) for name, values in responses.items()}
    return ChannelLabels(subject.spec, labelled, responses, probes, options, skipped, time.perf_counter() - start)


def probe_responses(model: Any, inputs: torch.Tensor, options: LabelOptions) -> tuple[dict[str, np.ndarray], dict]:
    """Every layer's (probes, channels) responses to the preprocessed probe ``inputs``, through one
    :class:`~layerscope.run.Run`; and the layers skipped (not maps), with the reason."""
    subject = Subject.of(model)
    reader = LayerMaps(subject.layouts)
    means: dict[str, list[torch.Tensor]] = {}
    run = Run(subject, inputs, RunOptions(batch_size=options.batch_size, progress=options.progress),
              desc="labels", stop_early=True)
    for step in run:
        for name in run.layers:
            maps = reader.maps(name, step.acts[name], step.acts.describe(name), tuple(inputs.shape[-2:]))
            if maps is not None:
                means.setdefault(name, []).append(interior_mean(maps.maps))
    return {name: torch.cat(found).double().numpy() for name, found in means.items()}, dict(reader.skipped)


def interior_mean(maps: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) maps -> (N, C): the mean of the positive part over the interior (an eighth of each side left
    out; none of a map smaller than 8).

    >>> m = torch.zeros(1, 1, 16, 16); m[0, 0, 0, :] = 9.0; m[0, 0, 4:12, 4:12] = 2.0; m[0, 0, 8, 8] = -50.0
    >>> interior_mean(m).tolist()
    [[0.875]]
    """
    h, w = maps.shape[-2:]
    dy, dx = h // 8, w // 8
    inner = maps[..., dy : h - dy, dx : w - dx]
    return inner.float().clamp(min=0).flatten(2).mean(dim=2).cpu()


def _groups(responses: np.ndarray, probes: ProbeSet) -> np.ndarray:
    """(probes, channels) -> (groups, channels): each group's strongest probe (a grating's best phase, a hue's
    best saturation and value)."""
    index = {name: i for i, name in enumerate(probes.groups)}
    groups = np.full((len(index), responses.shape[1]), -np.inf)
    for i, probe in enumerate(probes.probes):
        g = index[probe.group]
        groups[g] = np.maximum(groups[g], responses[i])
    return groups


def label_channels(responses: np.ndarray, probes: ProbeSet, options: Optional[LabelOptions] = None) -> list[ChannelLabel]:
    """Labels from (probes, channels) ``responses`` (module docstring: groups, selectivity, threshold).

    >>> probes = probe_set(32, textures=False)
    >>> one = np.zeros((len(probes), 2)); one[5, 0] = 1.0; one[:, 1] = np.arange(len(probes)) % 3
    >>> [(c.label, round(c.score, 1)) for c in label_channels(one, probes)]
    [('hue 30° (orange)', 7.3), ('no clear match', 0.7)]
    """
    options = LabelOptions.of(options)
    names = probes.groups
    groups = _groups(responses, probes)  # (groups, channels)
    spread = groups.std(axis=0)
    found = []
    for c in range(responses.shape[1]):
        if spread[c] <= 1e-9 * (1.0 + float(np.abs(groups[:, c]).max())):
            found.append(ChannelLabel(c, NO_MATCH, "nothing (the same on every probe)", 0.0, False))
            continue
        z = (groups[:, c] - groups[:, c].mean()) / spread[c]
        order = np.argsort(-z, kind="stable")
        best, score = names[order[0]], float(z[order[0]])
        matched = score >= options.threshold
        runners = tuple((names[g], round(float(z[g]), 4)) for g in order[1 : 1 + options.runners_up])
        probe = probes.probes[int(np.argmax(responses[:, c]))].name
        found.append(ChannelLabel(c, best if matched else NO_MATCH, best, round(score, 4), matched, runners, probe))
    return found
