"""The explorer's state and work, without the web server: inputs in memory, analyses, live frames.

The model is fixed when the explorer starts; a browser can add inputs (uploads, sample picks, camera
frames) but never name a model, a file or a path. One forward runs at a time (a lock). Everything
the browser sent is kept under a byte budget (``Limits.max_memory``): a picture is kept at the size
the model reads of it (:meth:`~layerscope.io.preprocess.Preprocessing.resized`, so its analysis is
the same pixel for pixel), each captured analysis is counted by its tensors' bytes, and beyond the
budget the oldest analyses go first, then the oldest inputs.

>>> import torch.nn as nn, numpy as np
>>> ex = Explorer(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)), samples=False)
>>> ex.layer_names
['1', '2']
>>> item = ex.add_array(np.zeros((20, 20, 3), np.uint8), "zeros")
>>> result = ex.analyze(item.id, layer=1, max_channels=2)
>>> sorted(result), result["data"]["layers"][0]["name"]
(['data', 'html'], '2')
>>> 0 < ex.held_bytes() <= ex.limits.max_memory
True
"""

from __future__ import annotations

import base64
import io
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from ..capturing.activations import Activations
from ..diagnosis import diagnose
from ..errors import InputError, LayerscopeError
from ..explain.attention import layer_attention, wants_attention
from ..io.images import as_loaded_image, decode_image
from ..io.models import LoadedModel
from ..io.video import read_video
from ..render.grid import render_grids
from ..render.options import RenderOptions
from ..render.views import check_views
from ..reporting.components import diagnosis_context, environment
from ..reporting.images import data_uri, seen_image, thumbnail
from ..reporting.layer import REPORT_OPTIONS, layer_view, with_pictures
from ..reporting.page import InputCard, model_card
from ..run.loop import Run, Step
from ..run.maps import LayerMaps
from ..run.options import RunOptions
from ..run.subject import Subject
from ..showing.video import animation_bytes
from ..zoo import PHOTOS, sample_photo
from .memory import picture_bytes, release_freed_memory, tensor_bytes
from .uploads import ACCEPT, DEFAULT_LIMITS, Limits, TooLargeError, check_size, display_name, kind_of

__all__ = ["Explorer", "Item", "UnknownItem"]

MAX_ITEMS = 96  # inputs kept in memory (uploads, frames of uploaded videos, picks), within the byte budget
MAX_ANALYSES = 6  # captured inputs kept (all layers each), within the byte budget
WHOLE_SIDE = 1024  # longest side kept of a picture the model reads whole (a preprocessing without resize or crop)
LIVE_WIDTH = 840  # widest live grid sent, in pixels: the page shows it 420 CSS pixels wide (x2 for dense screens)


class UnknownItem(InputError):
    """An input id the explorer does not hold (never made, or dropped from memory): HTTP 404."""


@dataclass
class Item:
    """One input: a server-made id, a label for the page, the decoded picture, notes, a video time."""

    id: str
    name: str
    image: Any  # PIL image, RGB or L, at the size the model reads of it
    notes: list[str] = field(default_factory=list)
    time: Optional[float] = None

    @property
    def nbytes(self) -> int:
        return picture_bytes(self.image)


@dataclass
class Analysis:
    """One input captured at every offered layer, with its predictions and diagnosis."""

    tensor: torch.Tensor
    acts: Activations
    predictions: Optional[list]
    diagnosis: Any
    notes: list[str]
    nbytes: int = 0  # of its tensors (the input and every captured layer)


@dataclass
class LiveCapture:
    """One camera frame through the model: the shown layer's maps and the predictions (what the reply encodes)."""

    name: str
    maps: torch.Tensor  # (1, C, H, W)
    channels: int
    predictions: list
    start: float


class Explorer:
    """The explorer's state: the fixed model (a :class:`~layerscope.run.subject.Subject`, resolved once), the
    offered layers, inputs and analyses in bounded memory.

    Every forward is a :class:`~layerscope.run.loop.Run` of the subject: the pictures go through its
    preprocessing (the :class:`~layerscope.io.feed.Feed`), its predictions are the one rule
    (:meth:`~layerscope.run.subject.Subject.predictions`), its layer tensors become maps through one
    :class:`~layerscope.run.maps.LayerMaps`.
    """

    def __init__(self, model: Any, *, layers: Any = None, images: Sequence[Any] = (), preprocessing: Any = None,
                 limits: Limits = DEFAULT_LIMITS, samples: bool = True, views: Sequence[str] = ()) -> None:
        self.subject = Subject.of(model, layers, preprocessing=preprocessing)
        self.views = check_views(views) if views else ()  # the registry's pictures under an analysed layer
        self.limits = limits
        self.lock = threading.RLock()  # one forward (and one change of the stores) at a time
        self.decoding = threading.Lock()  # one upload at full size in memory at a time
        self.items: OrderedDict[str, Item] = OrderedDict()
        self.analyses: OrderedDict[str, Analysis] = OrderedDict()
        self.layer_maps = LayerMaps(self.subject.layouts, self.subject.transforms)
        self.layer_names, self.modules, self.types = self._probe()
        self.samples = self._samples(images, samples)

    @property
    def loaded(self) -> LoadedModel:
        return self.subject.loaded

    # -- the one way a forward runs ---------------------------------------------------------------
    def _run(self, inputs: Any, layers: Optional[list[str]] = None) -> Step:
        """One batch of ``inputs`` (pictures through the subject's preprocessing, or a tensor) captured at
        ``layers`` (module names; default: the subject's), under the lock; the hooks are gone when it returns."""
        count = len(inputs) if isinstance(inputs, list) else 1
        options = RunOptions(batch_size=max(1, count), progress=False, strict=True, max_pixels=self.limits.max_pixels)
        with self.lock:
            steps = list(Run(self.subject, inputs, options, layers=layers, desc="explorer"))
        return steps[0]

    # -- what the page offers -------------------------------------------------------------------
    def _probe(self) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """The layer names one forward captures (it also learns the capture's copy plan)."""
        size = self.subject.preprocessing.input_size or (224, 224)
        channels = self.subject.preprocessing.channels or 3
        acts = self._run(torch.zeros(1, channels, *size)).acts
        names = list(acts)
        if not names:
            raise InputError("No layer of the model ran on a probe input; choose layers with --layers.")
        return names, {n: acts.info[n].module for n in names}, {n: acts.info[n].module_type for n in names}

    def _samples(self, images: Sequence[Any], zoo: bool) -> list[tuple[str, Any]]:
        picks = []
        for image in images:
            loaded = as_loaded_image(image, max_pixels=self.limits.max_pixels)
            picks.append((display_name(str(loaded.path)), self.fitted(loaded.image)[0]))
        if zoo:
            try:
                picks += [(f"{name}.png", self.fitted(sample_photo(name))[0]) for name in PHOTOS]
            except LayerscopeError:  # scikit-image (the samples extra) is not installed
                pass
        return picks

    def page_context(self) -> dict[str, Any]:
        return {"model": model_card(self.loaded), "samples": [name for name, _ in self.samples],
                "layer_names": self.layer_names, "limits": self.limits.describe(), "accept": ACCEPT}

    # -- inputs, in memory under the byte budget -------------------------------------------------
    def fitted(self, image: Any) -> tuple[Any, list[str]]:
        """The copy of ``image`` to keep: what the model reads of it (the preprocessing's conversion and resize,
        before its crop; or the crop alone), so an analysis of the copy is the analysis of ``image``; a picture the
        model reads whole is kept at most ``WHOLE_SIDE`` pixels on a side (a note says so). Never larger than
        ``image``."""
        pre, notes = self.subject.preprocessing, []
        small = pre.seen_image(image) if pre.resize is None and pre.crop is not None else pre.resized(image)
        if pre.resize is None and pre.crop is None:
            scale = WHOLE_SIDE / max(small.size)
            if scale < 1:
                size = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
                notes = [f"kept at {size[0]}x{size[1]} (from {small.width}x{small.height}): the model reads the whole "
                         f"picture and the explorer keeps at most {WHOLE_SIDE} pixels on a side"]
                small = small.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        if small.width * small.height >= image.width * image.height and image.mode in ("RGB", "L"):
            return image, []  # already as small: keep it as it came
        return small, notes

    def held_bytes(self) -> int:
        """Bytes of everything kept: the inputs' pixels and the analyses' tensors (at most ``limits.max_memory``)."""
        with self.lock:
            return sum(it.nbytes for it in self.items.values()) + sum(a.nbytes for a in self.analyses.values())

    def _evict(self, keep: Sequence[str] = (), inputs: bool = True) -> int:
        """Drop the oldest analyses, then (``inputs``) the oldest inputs, never those of ``keep``, until the
        counts and the bytes are within bounds; the bytes held then."""
        held = self.held_bytes()
        stores = ((self.analyses, MAX_ANALYSES), (self.items, MAX_ITEMS)) if inputs else ((self.analyses, MAX_ANALYSES),)
        for store, most in stores:
            for key in [k for k in store if k not in keep]:
                if held <= self.limits.max_memory and len(store) <= most:
                    break
                held -= store.pop(key).nbytes
                if store is self.items and key in self.analyses:
                    held -= self.analyses.pop(key).nbytes
        return held

    def _keep(self, entries: Sequence[tuple], what: str) -> list[Item]:
        """Keep new inputs ``(name, image, notes, time)``, dropping the oldest ones beyond the budget; a
        :class:`TooLargeError` when the new ones alone are over it."""
        items = [Item(secrets.token_urlsafe(9), name, image, list(notes), time_) for name, image, notes, time_ in entries]
        need = sum(it.nbytes for it in items)
        if need > self.limits.max_memory:
            raise TooLargeError(f"{what} takes {need / 2**20:.3g} MB at the size the model reads, over the explorer's "
                                f"memory of {self.limits.max_memory / 2**20:.3g} MB; start it with a larger --memory-mb"
                                + (" or a lower --video-fps." if len(items) > 1 else "."))
        with self.lock:
            for it in items:
                self.items[it.id] = it
            self._evict(keep=[it.id for it in items])
        return items

    def add_array(self, array: np.ndarray, name: str) -> Item:
        loaded = as_loaded_image(array, max_pixels=self.limits.max_pixels)
        image, notes = self.fitted(loaded.image)
        return self._keep([(name, image, loaded.notes + notes, None)], name)[0]

    def add_sample(self, index: int) -> Item:
        if not 0 <= index < len(self.samples):
            raise UnknownItem(f"There is no sample {index}; the explorer offers {len(self.samples)}.")
        name, image = self.samples[index]  # fitted when the explorer started
        return self._keep([(name, image, (), None)], name)[0]

    def add_upload(self, data: bytes, raw_name: Optional[str], content_type: Optional[str] = None) -> list[Item]:
        """An uploaded image (one item) or video (one item per sampled frame), checked and decoded in memory,
        kept at the size the model reads (one upload at full size in memory at a time)."""
        check_size(len(data), self.limits)
        name = display_name(raw_name)
        if kind_of(data, content_type) == "image":
            with self.decoding:
                loaded = decode_image(data, name, max_pixels=self.limits.max_pixels)
                image, notes = self.fitted(loaded.image)
                notes = loaded.notes + notes
                del loaded  # the picture at full size goes now
                release_freed_memory()
            return self._keep([(name, image, notes, None)], f"The upload {name!r}")
        with self.decoding:
            video = read_video(data, fps=self.limits.video_fps, max_frames=self.limits.max_video_frames,
                               max_pixels=self.limits.max_pixels, name=name, fit=lambda frame: self.fitted(frame)[0])
            release_freed_memory()
        return self._keep([(f"{name} @ {frame.time:.1f}s", frame.image, video.notes, frame.time)
                           for frame in video.frames], f"The {len(video.frames)} frames of {name!r}")

    def item(self, item_id: str) -> Item:
        with self.lock:
            if item_id not in self.items:
                raise UnknownItem("This input is no longer in the explorer's memory (or never was); upload or pick it again.")
            self.items.move_to_end(item_id)
            return self.items[item_id]

    def describe(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        """What the page lists of new inputs: id, name, a small thumbnail."""
        return [{"id": it.id, "name": it.name, "time": it.time, "thumb": data_uri(thumbnail(it.image, (96, 72)))}
                for it in items]

    # -- analyses -------------------------------------------------------------------------------
    def layer_index(self, layer: Any) -> int:
        try:
            index = int(layer)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(self.layer_names):
            raise InputError(f"layer must be a number from 0 to {len(self.layer_names) - 1}, got {layer!r}.")
        return index

    def _analysis(self, item: Item) -> Analysis:
        if item.id in self.analyses:
            self.analyses.move_to_end(item.id)
            return self.analyses[item.id]
        step = self._run([item.image])
        notes = list(item.notes)
        try:
            with self.lock:
                judged = diagnose(self.loaded, step.batch, self.subject.layers, channel_order=False)
        except LayerscopeError as err:
            judged = None
            notes.append(f"no diagnosis: {err}")
        predictions = self.subject.predictions(step.acts.output, k=5)
        nbytes = tensor_bytes(step.batch) + tensor_bytes(step.acts) + tensor_bytes(step.acts.output)
        analysis = Analysis(step.batch, step.acts, predictions, judged, notes, nbytes)
        with self.lock:  # kept in place of older analyses, never of inputs; else answered and not kept
            if item.id in self.items:
                self.analyses[item.id] = analysis
                if self._evict(keep=[item.id], inputs=False) > self.limits.max_memory:
                    del self.analyses[item.id]
        return analysis

    def _maps(self, name: str, acts: Any, size: tuple) -> Any:
        """The layer's maps as show lays them out (a token model's prefix tokens and grid are the capture's);
        None where the layer is no maps (``layer_view`` then says why)."""
        return self.layer_maps.maps(name, acts[name], acts.describe(name), size)

    def analyze(self, item_id: str, layer: Any = 0, max_channels: Any = 64) -> dict[str, Any]:
        """The page fragment (input card, the layer's channels, diagnostics) and the viewer's data."""
        item, index = self.item(item_id), self.layer_index(layer)
        k = _channels(max_channels)
        with self.lock:
            analysis = self._analysis(item)
        name = self.layer_names[index]
        judged = analysis.diagnosis
        layer_diag = next((d for d in judged.layers if d.name == name), None) if judged is not None else None
        maps = self._maps(name, analysis.acts, tuple(analysis.tensor.shape[-2:]))
        view = layer_view(name, analysis.acts[name] if maps is None else maps, module_type=self.types[name],
                          input_size=tuple(analysis.tensor.shape[-2:]), options=REPORT_OPTIONS.replace(max_channels=k),
                          diagnosis=layer_diag)
        seen = seen_image(analysis.tensor[0], self.subject.preprocessing)
        if self.views:  # the registry's picture views, the same pictures show and the report draw
            attention = None
            if wants_attention(self.views):
                with self.lock:
                    attention = layer_attention(self.subject, analysis.tensor, [name], self.views).get(name)
            view = with_pictures(view, maps.maps if maps is not None else None, self.views, [seen], attention)
        card = InputCard(item.name, "", analysis.notes, data_uri(seen) if seen is not None else None,
                         analysis.predictions[0] if analysis.predictions else None)
        html = environment().get_template("explorer_result.html").render(
            card=card, view=view, number=index, diagnosis=diagnosis_context(judged) if judged is not None else None)
        return {"html": html, "data": {"layers": [view.data()], "inputs": [{"name": item.name}]}}

    def animation(self, item_ids: Sequence[str], layer: Any = 0, max_channels: Any = 16) -> dict[str, Any]:
        """The layer's grid over the frames of an uploaded video, on one shared scale, as an animated WebP."""
        items = [self.item(i) for i in item_ids]
        if not 2 <= len(items) <= self.limits.max_video_frames:
            raise InputError(f"An animation needs 2 to {self.limits.max_video_frames} frames, got {len(items)}.")
        index, k = self.layer_index(layer), _channels(max_channels)
        name = self.layer_names[index]
        step = self._run([item.image for item in items], [self.modules[name]])
        maps = self._maps(name, step.acts, tuple(step.batch.shape[-2:]))
        view = layer_view(name, step.acts[name] if maps is None else maps, module_type=self.types[name],
                          input_size=tuple(step.batch.shape[-2:]), options=REPORT_OPTIONS.replace(max_channels=k))
        if view.error:
            raise InputError(view.error)
        pictures = [np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in view.grids]
        moving = animation_bytes(pictures, self.limits.video_fps, "webp")
        return {"layer": name, "frames": len(items), "src": "data:image/webp;base64," + base64.b64encode(moving).decode()}

    def live_frame(self, data: bytes, layer: Any = 0, max_channels: Any = 16) -> dict[str, Any]:
        """One camera frame: the layer's top channels as a grid, their mean values, the top predictions
        (:meth:`live_capture` then :meth:`live_reply`; the live socket runs the two apart, so that one frame's
        reply is encoded while the next frame's forward runs)."""
        return self.live_reply(self.live_capture(data, layer, max_channels))

    def live_capture(self, data: bytes, layer: Any = 0, max_channels: Any = 16) -> LiveCapture:
        """Decode a camera frame and run the model on it (under the lock), capturing the one layer shown."""
        start = time.perf_counter()
        check_size(len(data), Limits(max_bytes=self.limits.max_frame_bytes), "A camera frame")
        image = decode_image(data, "camera frame", max_pixels=self.limits.max_pixels).image
        index, k = self.layer_index(layer), _channels(max_channels) or 16
        name = self.layer_names[index]
        step = self._run([image], [self.modules[name]])
        with self.lock:
            laid = self.layer_maps.maps(name, step.acts[name], step.acts.describe(name), tuple(step.batch.shape[-2:]))
        if laid is None:
            raise InputError(self.layer_maps.skipped[name])
        return LiveCapture(name, laid.maps[:1], k, step.predictions(3)[0] or [], start)

    def live_reply(self, captured: LiveCapture) -> dict[str, Any]:
        """The answer to a captured frame, without the model or the lock: the top channels by mean as a grid at
        display size (maps averaged down to tiles that fit ``LIVE_WIDTH``), their means, the predictions."""
        maps = captured.maps
        k = min(captured.channels, maps.shape[1])
        height, width = maps.shape[-2:]
        shrink = math.ceil(math.ceil(math.sqrt(k)) * (width + 1) / LIVE_WIDTH)
        if shrink > 1:  # area averaging, as the browser would draw it smaller; means stay the same
            maps = torch.nn.functional.adaptive_avg_pool2d(maps.float(), (-(-height // shrink), -(-width // shrink)))
        grid = render_grids(maps, RenderOptions(order="mean", max_channels=k, labels=True, padding=1))[0]
        means = captured.maps[0].float().mean(dim=(-2, -1))
        top = means.topk(min(5, means.numel()))
        return {"layer": captured.name, "grid": data_uri(grid.png_bytes()), "channels": list(grid.meta.channels),
                "selection": grid.meta.selection,
                "top": [[int(c), round(float(v), 4)] for v, c in zip(top.values.tolist(), top.indices.tolist())],
                "predictions": captured.predictions, "ms": round(1000 * (time.perf_counter() - captured.start), 1)}


def _channels(value: Any) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if not 0 <= count <= 4096:
        raise InputError(f"channels must be a number from 0 (all) to 4096, got {value!r}.")
    return count
