"""What the explorer accepts from a browser: images and videos only, within size and pixel limits.

Uploads stay in memory; the client's file name is a label shown on the page, never a path.

>>> limits = Limits(max_bytes=10)
>>> check_size(11, limits)
Traceback (most recent call last):
...
layerscope.serve.uploads.TooLargeError: The upload is 11 bytes, over the limit of 10 bytes. ...
>>> kind_of(b"\\x89PNG\\r\\n\\x1a\\n....", "image/png"), kind_of(b"....ftypisom", "video/mp4")
('image', 'video')
>>> display_name("../../etc/passwd%00<b>")
'passwd_<b>'
"""

from __future__ import annotations

import argparse
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

from ..core.options import Options, positive_int
from ..errors import InputError
from ..io.images import DEFAULT_MAX_PIXELS

__all__ = ["Limits", "DEFAULT_LIMITS", "check_size", "kind_of", "display_name", "UnsupportedType", "TooLargeError",
           "ACCEPT"]

ACCEPT = "image/png,image/jpeg,image/gif,image/bmp,image/webp,image/tiff,video/mp4,video/webm,video/quicktime,video/x-matroska,video/x-msvideo"
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


class UnsupportedType(InputError):
    """An upload that is neither an image nor a video (HTTP 415)."""


class TooLargeError(InputError):
    """An upload or a camera frame of more bytes than the explorer's limit (HTTP 413)."""


def _megabytes(text: str) -> int:
    """``--max-upload-mb``: megabytes (a positive number) as bytes."""
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not megabytes > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of megabytes, got {text!r}")
    return int(megabytes * 2**20)


@dataclass(frozen=True)
class Limits(Options):
    """Upload limits: bytes per upload (and per live frame), pixels per image or video frame, sampled video
    frames kept, the video sampling rate, and the bytes of memory all kept inputs and analyses may take.
    CLI flags: ``--max-upload-mb``, ``--max-pixels``, ``--video-fps``, ``--memory-mb``."""

    max_bytes: int = field(default=50 * 2**20, metadata={
        "help": "largest upload in MB (default 50)", "flag": "--max-upload-mb", "type": _megabytes, "metavar": "MB"})
    max_pixels: Optional[int] = field(default=40_000_000, metadata={
        "help": "largest image or video frame in pixels (default 40,000,000)", "type": int, "metavar": "N"})
    max_frame_bytes: int = 4 * 2**20
    max_video_frames: int = 48
    video_fps: float = field(default=1.0, metadata={
        "help": "frames per second sampled from uploaded videos (default 1)", "type": float, "metavar": "FPS"})
    max_memory: int = field(default=256 * 2**20, metadata={
        "help": "memory for the inputs and analyses kept, in MB (default 256): pictures are kept at the size the "
                "model reads, the oldest dropped beyond it", "flag": "--memory-mb", "type": _megabytes,
        "metavar": "MB"})

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_frame_bytes", "max_video_frames", "max_memory"):
            positive_int(self, name)
        positive_int(self, "max_pixels", allow_none=True)
        if isinstance(self.video_fps, bool) or not isinstance(self.video_fps, (int, float)) or not self.video_fps > 0:
            raise InputError(f"video_fps={self.video_fps!r} must be a positive number (frames per second).")

    def describe(self) -> str:
        pixels = f"{self.max_pixels / 1e6:g} megapixels" if self.max_pixels else "no pixel limit"
        return (f"{self.max_bytes / 2**20:g} MB per upload, {pixels} per image, videos sampled at "
                f"{self.video_fps:g} frame(s) per second, at most {self.max_video_frames} frames; "
                f"{self.max_memory / 2**20:g} MB of memory for what is kept (the oldest dropped first)")


DEFAULT_LIMITS = Limits(max_pixels=min(40_000_000, DEFAULT_MAX_PIXELS))


def check_size(size: int, limits: Limits, what: str = "The upload") -> None:
    """:class:`TooLargeError` when ``size`` bytes is over ``limits.max_bytes``."""
    if size > limits.max_bytes:
        raise TooLargeError(f"{what} is {size:,} bytes, over the limit of {limits.max_bytes:,} bytes. Upload a smaller "
                         f"file, or start the explorer with a larger --max-upload-mb.")


def kind_of(data: bytes, content_type: Optional[str] = None) -> str:
    """``"image"`` or ``"video"`` from the file's first bytes (the declared type must not contradict them);
    :class:`UnsupportedType` for anything else."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared and not declared.startswith(("image/", "video/")) and declared != "application/octet-stream":
        raise UnsupportedType(f"Only images and videos are accepted, not {declared!r}.")
    head = data[:64]
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp" or head.startswith(b"\x1aE\xdf\xa3") or (head[:4] == b"RIFF" and head[8:12] == b"AVI ") \
            or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"OggS", b"YUV4MPEG2")):
        return "video"
    raise UnsupportedType("The file is neither an image (PNG, JPEG, GIF, BMP, WebP, TIFF) nor a video "
                          "(MP4, MOV, WebM, MKV, AVI, MPEG, Ogg); upload one of those.")


def display_name(raw: Optional[str], fallback: str = "upload") -> str:
    """A label for the page from a client's (URL-encoded) file name: its last path part, 120 characters at
    most, control characters and separators replaced. Shown escaped; never used as a path."""
    text = urllib.parse.unquote(raw or "")
    text = re.split(r"[\\/]", text)[-1]
    text = re.sub(r"[\x00-\x1f\x7f%]+", "_", text).strip() or fallback
    return text[:120]
