"""The frames of a video file as dataset inputs (decoded with PyAV, the ``video`` extra): frame n is input n.

>>> is_video("clip.MP4"), is_video("photo.png")
(True, False)

Frames are decoded in order; a scan reads the file once and keeps the frames of its shard.
The source of frame n is ``PATH#frame=n``, which :func:`frame` decodes again for crops.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterator

from PIL import Image

from ..errors import ImageError, require

__all__ = ["VIDEO_EXTENSIONS", "is_video", "frames", "frame", "video_fingerprint", "frame_count"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
_SAMPLE = 1 << 20  # bytes hashed from each end of the file


def is_video(path: str) -> bool:
    return os.path.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


def _av():
    return require("av", "video", "Scanning the frames of a video")


def _open(path: str):
    av = _av()
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError) as err:
        raise ImageError(f"{path}: cannot be opened as a video ({err}). Check the file, or convert it, e.g. to MP4.") from None
    if not container.streams.video:
        container.close()
        raise ImageError(f"{path}: holds no video stream.")
    return container


def frame_count(path: str) -> int:
    """The frame count the container declares (0 when it does not say)."""
    container = _open(path)
    try:
        return int(container.streams.video[0].frames or 0)
    finally:
        container.close()


def frames(path: str) -> Iterator[Image.Image]:
    """Every frame of the first video stream, in order, as RGB images."""
    av = _av()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        try:
            for decoded in container.decode(stream):
                yield decoded.to_image()
        except av.FFmpegError as err:
            raise ImageError(f"{path}: the video is corrupt or truncated ({err}).") from None
    finally:
        container.close()


def frame(path: str, index: int) -> Image.Image:
    """Frame ``index`` (0-based) of ``path``, decoded from the start (frames are counted, not timed)."""
    for number, image in enumerate(frames(path)):
        if number == index:
            return image
    raise ImageError(f"{path}: has no frame {index}; was the video changed since the scan?")


def video_fingerprint(path: str) -> str:
    """A hash of the file's size and first and last MiB (cheap; a re-encoded video differs)."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_SAMPLE))
        if size > 2 * _SAMPLE:
            handle.seek(-_SAMPLE, os.SEEK_END)
            digest.update(handle.read())
    return digest.hexdigest()[:32]
