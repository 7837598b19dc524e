"""Frames of a video as PIL images with their timestamps, decoded by PyAV (a wheel that ships its own FFmpeg).

>>> import tempfile, os, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "clip.mp4")
>>> _ = write_video(path, [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(6)], fps=4)
>>> video = read_video(path, fps=2)
>>> [f.time for f in video.frames], video.frames[0].image.size, video.source_fps
([0.0, 0.5, 1.0], (16, 16), 4.0)

Every verb reads video here: ``show_video`` and the explorer sample frames in time (:func:`read_video`); the
scan and :class:`~layerscope.io.feed.Feed` take every frame as an input (:func:`frames`; frame n is input n,
its source ``PATH#frame=n``, decoded again by :func:`frame`). One extension list, :data:`VIDEO_EXTENSIONS`.

>>> is_video_path("clip.WMV"), is_video_path("clip.ogv"), is_video_path("photo.png")
(True, True, False)

Extra ``layerscope[video]`` (the ``av`` package); without it a :class:`~layerscope.errors.MissingDependencyError`
names the extra.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
from PIL import Image

from ..errors import ImageError, InputError, require
from .images import DEFAULT_MAX_PIXELS

__all__ = ["VideoFrame", "Video", "read_video", "write_video", "is_video_path", "VIDEO_EXTENSIONS", "MAX_FRAMES",
           "frames", "frame", "frame_count", "video_fingerprint"]

# what PyAV (FFmpeg) reads: the one list, for show, the explorer, Feed and the scan
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv", ".ogg", ".y4m",
                    ".wmv", ".asf", ".flv", ".3gp", ".ts", ".m2ts", ".mts", ".vob", ".gifv")
MAX_FRAMES = 300  # sampled frames kept from one video unless told otherwise
_SAMPLE = 1 << 20  # bytes hashed from each end of the file by video_fingerprint


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: an RGB PIL image, its time in seconds from the start, its decoded frame number."""

    image: Any
    time: float
    index: int

    @property
    def name(self) -> str:
        """A file-safe name (no dot: it is used as a file stem) that sorts in time order: ``frame-00012-0001500ms``."""
        return f"frame-{self.index:05d}-{round(self.time * 1000):07d}ms"


@dataclass
class Video:
    """The sampled frames of one video, with what the file says about itself and what was left out."""

    source: str
    frames: list[VideoFrame]
    source_fps: Optional[float]
    duration: Optional[float]
    size: tuple[int, int]
    notes: list[str] = field(default_factory=list)


def is_video_path(path: Any) -> bool:
    """Whether ``path`` names a video file by its extension (``.mp4``, ``.webm``, ``.mov`` ...)."""
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _av():
    return require("av", "video", "Reading video")


def _open(source: Union[str, os.PathLike, bytes], name: str):
    av = _av()
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise ImageError(f"{name}: no such video file. Check the path (relative paths are from {os.getcwd()}).")
    try:
        return av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise ImageError(f"{name}: not a readable video ({err}). Give an MP4, WebM, MOV, MKV or AVI file, "
                         "or convert it (e.g. to MP4).") from None


def read_video(
    source: Union[str, os.PathLike, bytes],
    *,
    fps: Optional[float] = 1.0,
    max_frames: int = MAX_FRAMES,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    name: Optional[str] = None,
    fit: Optional[Callable[[Image.Image], Image.Image]] = None,
) -> Video:
    """Decode ``source`` (a path, or the bytes of an upload) and keep one frame per ``1 / fps`` seconds
    (``fps=None``: every frame), at most ``max_frames``; frames over ``max_pixels`` are refused. ``fit``
    turns each kept frame into the copy to keep (e.g. a smaller one) as it is decoded, so no more than
    one frame is ever held at full size."""
    if fps is not None and not fps > 0:
        raise InputError(f"fps must be a positive number of frames per second, got {fps!r}; e.g. --fps 2.")
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise InputError(f"max_frames must be a positive int, got {max_frames!r}.")
    label = name or (str(source) if not isinstance(source, bytes) else "<video>")
    av = _av()
    with _open(source, label) as container:
        if not container.streams.video:
            raise ImageError(f"{label}: the file has no video stream (audio only?). Give a video file.")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if max_pixels and width * height > max_pixels:
            raise ImageError(f"{label}: frames of {width}x{height} are over the limit of {max_pixels:,} pixels.")
        rate = float(stream.average_rate) if stream.average_rate else None
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        frames, notes = [], []
        try:
            frames = _sample(container.decode(stream), fps, max_frames, notes, fit)
        except av.error.FFmpegError as err:
            if not frames:
                raise ImageError(f"{label}: the video cannot be decoded ({err}).") from None
            notes.append(f"decoding stopped early ({err}); kept the frames before")
    if not frames:
        raise ImageError(f"{label}: the video has no frame that could be decoded.")
    return Video(label, frames, rate, duration, (width, height), notes)


def _sample(decoded, fps: Optional[float], max_frames: int, notes: list[str],
            fit: Optional[Callable[[Image.Image], Image.Image]] = None) -> list[VideoFrame]:
    frames: list[VideoFrame] = []
    start, due = None, 0.0
    for number, frame in enumerate(decoded):
        time = float(frame.time) if frame.time is not None else number / (fps or 25.0)
        start = time if start is None else start
        time -= start
        if fps is not None and time + 1e-6 < due:
            continue
        if len(frames) == max_frames:
            notes.append(f"kept the first {max_frames} sampled frames (max_frames); the video goes on")
            break
        image = frame.to_image()
        frames.append(VideoFrame(image if fit is None else fit(image), round(time, 6), number))
        due = (len(frames)) / fps if fps is not None else 0.0
    return frames


def write_video(path: Union[str, os.PathLike], frames: Sequence[Any], *, fps: int = 25, codec: str = "mpeg4") -> Path:
    """Encode RGB uint8 arrays (H, W, 3) as a video (e.g. for tests and examples); returns the path."""
    av = _av()
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        first = np.asarray(frames[0])
        stream = container.add_stream(codec, rate=int(fps))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.asarray(array, np.uint8)), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


# -- every frame, in order: video as a dataset (Feed, scan) ------------------------------------------------
def _stream(container: Any, name: str) -> Any:
    if not container.streams.video:
        raise ImageError(f"{name}: the file has no video stream (audio only?). Give a video file.")
    return container.streams.video[0]


def frame_count(path: Union[str, os.PathLike]) -> int:
    """The frame count the container declares (0 when it does not say)."""
    with _open(path, str(path)) as container:
        return int(_stream(container, str(path)).frames or 0)


def frames(path: Union[str, os.PathLike]) -> Iterator[Any]:
    """Every frame of the first video stream, in order, as RGB PIL images."""
    av = _av()
    with _open(path, str(path)) as container:
        stream = _stream(container, str(path))
        try:
            for decoded in container.decode(stream):
                yield decoded.to_image()
        except av.error.FFmpegError as err:
            raise ImageError(f"{path}: the video is corrupt or truncated ({err}).") from None


def frame(path: Union[str, os.PathLike], index: int) -> Any:
    """Frame ``index`` (0-based) of ``path``, decoded from the start (frames are counted, not timed)."""
    for number, image in enumerate(frames(path)):
        if number == index:
            return image
    raise ImageError(f"{path}: has no frame {index}; was the video changed since it was read?")


def video_fingerprint(path: Union[str, os.PathLike]) -> str:
    """A hash of the file's size and first and last MiB (cheap; a re-encoded video differs)."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_SAMPLE))
        if size > 2 * _SAMPLE:
            handle.seek(-_SAMPLE, os.SEEK_END)
            digest.update(handle.read())
    return digest.hexdigest()[:32]
