"""Feature maps of a video: sampled frames through :func:`layerscope.show`, plus a filmstrip and an animation.

``show_video(model, "clip.mp4", layers, out="maps", fps=2)`` writes, besides show's per-frame grids
(``maps/frame-00002-0000500ms/00_conv1.png`` ...) and ``index.json``:

- ``filmstrip.png``: the frames as the model saw them (top) over one layer's grid per frame (bottom), in time;
- ``animation.webp`` (or ``.gif``): that layer's grid frame after frame, at the sampling rate;
- ``video.json``: the source, its frame rate and size, and the time of each sampled frame.

>>> import tempfile, numpy as np, torch.nn as nn
>>> from layerscope.io.video import write_video
>>> folder = tempfile.mkdtemp()
>>> clip = write_video(folder + "/clip.mp4", [np.full((24, 24, 3), 30 * i, np.uint8) for i in range(8)], fps=4)
>>> result = show_video(nn.Sequential(nn.Conv2d(3, 4, 3)), clip, out=folder + "/maps", fps=2)
>>> [f["time"] for f in result.frames], result.filmstrip.name, result.animation.name
([0.0, 0.5, 1.0, 1.5], 'filmstrip.png', 'animation.webp')
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
from PIL import Image

from ..core.outputs import OutputFolder
from ..core.options import Options, positive_int
from ..errors import InputError, did_you_mean
from ..io.images import LoadedImage
from ..io.resolve import resolve_model
from ..io.video import MAX_FRAMES, read_video
from ..render._viewkit import text_band
from ..render.png import encode_png
from .api import show

__all__ = ["show_video", "VideoOptions", "VideoResult", "filmstrip", "animation_bytes", "ANIMATION_FORMATS"]

ANIMATION_FORMATS = ("webp", "gif")
STRIP_HEIGHT = 160  # pixels of each picture in the filmstrip


@dataclass(frozen=True)
class VideoOptions(Options):
    """How a video is sampled and animated: ``fps`` sampled frames per second, at most ``max_frames``;
    ``animate`` the layer of the filmstrip and animation (None: the first layer drawn); ``animation`` its
    format (webp or gif)."""

    fps: float = 1.0
    animate: Optional[str] = None
    animation: str = "webp"
    max_frames: int = MAX_FRAMES

    def __post_init__(self) -> None:
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) or not self.fps > 0:
            raise InputError(f"fps must be a positive number of frames per second, got {self.fps!r}; e.g. --fps 2.")
        if self.animation not in ANIMATION_FORMATS:
            raise InputError(f"Unknown animation format {self.animation!r}."
                             f"{did_you_mean(self.animation, ANIMATION_FORMATS)} Use webp or gif.")
        positive_int(self, "max_frames")


@dataclass
class VideoResult:
    """What :func:`show_video` wrote: show's result for the frames, the filmstrip, the animation, frame times."""

    show: Any
    layer: str
    frames: list[dict]
    filmstrip: Path
    animation: Path
    info: Path

    def __repr__(self) -> str:
        return (f"VideoResult({len(self.frames)} frames, layer {self.layer!r}: {self.filmstrip.name}, "
                f"{self.animation.name}, {self.show!r})")


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    picture = Image.fromarray(image)
    width = max(1, round(picture.width * height / picture.height))
    resample = Image.Resampling.NEAREST if picture.height < height else Image.Resampling.BOX
    return np.asarray(picture.convert("RGB").resize((width, height), resample))


def filmstrip(frames: Sequence[np.ndarray], grids: Sequence[np.ndarray], labels: Sequence[str],
              height: int = STRIP_HEIGHT, gap: int = 4) -> np.ndarray:
    """Frames (top row) over grids (bottom row), each column labelled, as one RGB image."""
    columns = []
    for frame, grid, label in zip(frames, grids, labels):
        top, bottom = _fit(frame, height), _fit(grid, height)
        width = max(top.shape[1], bottom.shape[1])
        column = np.full((height * 2 + gap, width, 3), 255, np.uint8)
        column[:height, : top.shape[1]] = top
        column[height + gap :, : bottom.shape[1]] = bottom
        columns.append(np.concatenate([text_band([label], width), column]))
        columns.append(np.full((columns[-1].shape[0], gap, 3), 255, np.uint8))
    return np.concatenate(columns[:-1], axis=1)


def animation_bytes(pictures: Sequence[np.ndarray], fps: float, fmt: str = "webp") -> bytes:
    """An endlessly looping animation of RGB pictures (padded to one size), ``1 / fps`` seconds each."""
    if fmt not in ANIMATION_FORMATS:
        raise InputError(f"Unknown animation format {fmt!r}.{did_you_mean(fmt, ANIMATION_FORMATS)} Use webp or gif.")
    height, width = max(p.shape[0] for p in pictures), max(p.shape[1] for p in pictures)
    frames = []
    for picture in pictures:
        canvas = np.full((height, width, 3), 255, np.uint8)
        canvas[: picture.shape[0], : picture.shape[1]] = picture
        frames.append(Image.fromarray(canvas))
    buffer = io.BytesIO()
    extra = {"lossless": True} if fmt == "webp" else {}
    frames[0].save(buffer, format=fmt.upper(), save_all=True, append_images=frames[1:], loop=0,
                   duration=max(20, round(1000 / fps)), **extra)
    return buffer.getvalue()


def show_video(
    model: Any,
    video: Union[str, Path],
    layers: Any = None,
    out: Union[str, Path] = "video-maps",
    video_options: Optional[VideoOptions] = None,
    *,
    overwrite: bool = False,
    **fields: Any,
) -> VideoResult:
    """Sample ``video`` at ``fps`` frames per second and :func:`~layerscope.show` ``layers`` of ``model`` on
    every frame into ``out``; ``animate`` names the layer of the filmstrip and animation (default: the
    first layer shown). ``video_options``: :class:`VideoOptions`, whose fields (``fps``, ``animate``, ``animation``,
    ``max_frames``) may be keywords too; ``preprocessing=`` sets the model's; other keywords go to
    :func:`~layerscope.show` (render options, layouts...)."""
    mine, show_options = VideoOptions.split(fields)
    settings = VideoOptions.of(video_options, **mine)
    preprocessing = show_options.pop("preprocessing", None)
    clip = read_video(video, fps=settings.fps, max_frames=settings.max_frames)
    loaded = resolve_model(model, preprocessing=preprocessing)
    frames = [LoadedImage(f.image, f.name, [f"{Path(str(video)).name} at {f.time:.2f} s"]) for f in clip.frames]
    result = show(loaded, frames, layers, out, overwrite=overwrite, **show_options)
    names = [row["name"] for row in result.layers]
    if not names:
        raise InputError(f"No layer could be drawn for {video}; see the skipped layers: {result.skipped_layers}.")
    layer = settings.animate if settings.animate is not None else names[0]
    if layer not in names:
        raise InputError(f"--animate {layer!r} is not a layer that was drawn.{did_you_mean(layer, names)} Drawn: {', '.join(names)}.")
    return _write_extras(result, clip, loaded, layer, settings, overwrite)


def _write_extras(result, clip, loaded, layer: str, settings: VideoOptions, overwrite: bool) -> VideoResult:
    out = Path(result.out)
    folder = OutputFolder(out, "video.json", overwrite=overwrite)  # the one rule: a rerun replaces its own files
    fps, fmt = settings.fps, settings.animation
    grids = [np.asarray(Image.open(out / entry["files"][layer]).convert("RGB")) for entry in result.inputs]
    seen = [np.asarray(loaded.preprocessing.seen_image(f.image).convert("RGB")) for f in clip.frames]  # what the model saw
    strip = folder.write(encode_png(filmstrip(seen, grids, [f"{f.time:.2f} s" for f in clip.frames])), "filmstrip.png")
    moving = folder.write(animation_bytes(grids, fps, fmt), f"animation.{fmt}")
    frames = [{"name": entry["name"], "time": f.time, "frame_number": f.index}
              for entry, f in zip(result.inputs, clip.frames)]
    info = {"source": clip.source, "source_fps": clip.source_fps, "duration": clip.duration, "size": list(clip.size),
            "sampled_fps": fps, "layer": layer, "filmstrip": strip.name, "animation": moving.name,
            "frames": frames, "notes": clip.notes}
    folder.finish(info, indent=1)
    return VideoResult(result, layer, frames, strip, moving, out / "video.json")
