"""Load one image file robustly: allowlisted formats, bomb limit, EXIF orientation, modes made RGB or L.

>>> import tempfile, os, PIL.Image
>>> path = os.path.join(tempfile.mkdtemp(), "a.png")
>>> PIL.Image.new("RGBA", (4, 2), (255, 0, 0, 0)).save(path)
>>> img = load_image(path)
>>> img.image.mode, img.image.getpixel((0, 0)), img.original_mode
('RGB', (255, 255, 255), 'RGBA')

Every failure (missing, corrupt, truncated, unsupported, too many pixels) is an
:class:`~layerscope.errors.ImageError` naming the file; its ``reason``
attribute is the same message without the file name, for lists that print the
path beside it. The file is read into memory and closed at once; no handle
stays open.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageError

__all__ = [
    "LoadedImage",
    "load_image",
    "decode_image",
    "as_loaded_image",
    "to_rgb_or_l",
    "IMAGE_FORMATS",
    "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
]

IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "GIF", "BMP", "WEBP")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".gif", ".bmp", ".dib", ".webp")
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default limit (about 9459 x 9459)
WHITE = (255, 255, 255)

PathLike = Union[str, "os.PathLike[str]"]
_PIL_LIMIT_LOCK = threading.Lock()


@dataclass
class LoadedImage:
    """A decoded image in RGB or L, with where it came from and what was done to it.

    >>> LoadedImage(Image.new("L", (3, 2)), "x.png").original_size
    (3, 2)
    """

    image: Image.Image
    path: str
    notes: list[str] = field(default_factory=list)
    original_mode: str = ""
    original_size: tuple[int, int] = (0, 0)  # (W, H) as stored in the file, before EXIF rotation

    def __post_init__(self) -> None:
        self.original_mode = self.original_mode or self.image.mode
        if self.original_size == (0, 0):
            self.original_size = self.image.size


def _composite(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Alpha-composite RGBA / LA onto a solid background; the result is RGB or L."""
    if image.mode == "LA":
        gray = int(round(0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]))
        base = Image.new("L", image.size, gray)
        base.paste(image.getchannel("L"), mask=image.getchannel("A"))
        return base
    rgba = image.convert("RGBA")
    base = Image.new("RGBA", image.size, tuple(background) + (255,))
    return Image.alpha_composite(base, rgba).convert("RGB")


def _scale_high_depth(image: Image.Image, bits: Optional[int]) -> tuple[Image.Image, list[str]]:
    """16-bit, 32-bit int and float images scaled (not clipped) to 8-bit L, with notes saying how.

    Float images may hold NaN or +-Inf (TIFF mode F): the scale comes from the finite values
    only, non-finite pixels become black, and a note counts them.

    >>> image, notes = _scale_high_depth(Image.fromarray(np.array([[0.0, np.nan], [2.0, 4.0]], np.float32)), None)
    >>> np.asarray(image).tolist(), notes[1]
    ([[0, 0], [128, 255]], '1 of 4 pixels are NaN or Inf (shown black); the scale uses the 3 finite ones')
    """
    array = np.asarray(image).astype(np.float64)
    finite = np.isfinite(array)
    values = array[finite]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16"):
        top = float(2 ** (bits or 16) - 1)
        how = f"{bits or 16}-bit range 0..{int(top)}"
        if high > top:  # a BitsPerSample tag smaller than the data: trust the data
            top, how = 65535.0, "16-bit range 0..65535"
        low = 0.0
    elif image.mode == "F" and low >= 0.0 and high <= 1.0:
        top, how, low = 1.0, "float range 0..1", 0.0
    elif image.mode == "I" and low >= 0 and high <= 255:
        top, how, low = 255.0, "8-bit range 0..255", 0.0
    elif image.mode == "I" and low >= 0 and high <= 65535:
        top, how, low = 65535.0, "16-bit range 0..65535", 0.0
    else:
        top, how = high, f"its own min..max {low:g}..{high:g}"
    span = top - low if top > low else 1.0
    scaled = np.clip(np.round((np.where(finite, array, low) - low) * 255.0 / span), 0, 255).astype(np.uint8)
    notes = [f"{image.mode} pixels scaled to 8 bits by {how}"]
    if values.size < array.size:
        bad = array.size - values.size
        notes.append(f"{bad} of {array.size} pixels are NaN or Inf (shown black); the scale uses the "
                     f"{values.size} finite ones")
    if not values.size:
        raise ImageError(f"every one of its {array.size} pixels is NaN or Inf: there is no image to show.")
    return Image.fromarray(scaled, mode="L"), notes


def to_rgb_or_l(
    image: Image.Image, background: tuple[int, int, int] = WHITE, bits: Optional[int] = None
) -> tuple[Image.Image, list[str]]:
    """Convert any PIL mode to RGB or L; returns the image and notes on what changed.

    >>> to_rgb_or_l(Image.new("LA", (1, 1), (0, 0)))[0].getpixel((0, 0))
    255
    """
    mode, notes = image.mode, []
    if mode in ("RGB", "L"):
        return image, notes
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        notes.append(f"palette image converted to RGB{', transparency composited onto ' + str(background) if has_alpha else ''}")
        return (_composite(image, background) if has_alpha else image), notes
    if mode in ("RGBA", "RGBa", "LA", "La"):
        image = image.convert({"RGBa": "RGBA", "La": "LA"}.get(mode, mode))
        notes.append(f"{mode} alpha composited onto background {background}")
        return _composite(image, background), notes
    if mode.startswith("I") or mode == "F":
        return _scale_high_depth(image, bits)
    if mode == "1":
        return image.convert("L"), ["1-bit image converted to L"]
    notes.append(f"{mode} converted to RGB" + (" without color management" if mode == "CMYK" else ""))
    return image.convert("RGB"), notes


@contextmanager
def _pil_limit(max_pixels: Optional[int]) -> Iterator[None]:
    """Make Pillow's own bomb check no stricter than ``max_pixels`` and its warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        current = Image.MAX_IMAGE_PIXELS
        if current is None or (max_pixels is not None and max_pixels <= current):
            yield
            return
        with _PIL_LIMIT_LOCK:  # the user raised the limit above Pillow's global one
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                yield
            finally:
                Image.MAX_IMAGE_PIXELS = current


def _error(path: object, reason: str) -> ImageError:
    """``ImageError("PATH: reason")`` whose ``reason`` attribute leaves the path out."""
    err = ImageError(f"{path}: {reason}")
    err.reason = reason
    return err


def _bomb_error(path: str, detail: str) -> ImageError:
    return _error(
        path,
        f"{detail} - refused as a possible decompression bomb. If you trust this file, raise the "
        f"limit: load_image(..., max_pixels=N) or --max-pixels N (None / 0 = no limit).",
    )


def _read(path: PathLike) -> bytes:
    p = Path(path)
    if not p.exists():
        raise _error(p, f"no such file. Check the path (relative paths are from {os.getcwd()}).")
    if p.is_dir():
        raise _error(p, "is a directory, not an image; use find_images / load_images to expand it.")
    try:
        return p.read_bytes()
    except OSError as err:
        raise _error(p, f"cannot be read ({err.strerror or err}). Check its permissions.") from None


def _bits_per_sample(image: Image.Image) -> Optional[int]:
    tag = getattr(image, "tag_v2", None)  # TIFF
    value = tag.get(258) if tag is not None else None
    if isinstance(value, tuple):
        value = value[0]
    return int(value) if value else None


def load_image(
    path: PathLike, *, background: tuple[int, int, int] = WHITE, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Decode one PNG/JPEG/TIFF/GIF/BMP/WEBP file into RGB or L (first frame of animations).

    >>> load_image("/no/such.png")
    Traceback (most recent call last):
    ...
    layerscope.errors.ImageError: /no/such.png: no such file. ...
    """
    return decode_image(_read(path), str(path), background=background, max_pixels=max_pixels)


def decode_image(
    data: bytes, name: str, *, background: tuple[int, int, int] = WHITE, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """:func:`load_image` of bytes already in memory (an upload); ``name`` is only a label, never a path.

    >>> decode_image(b"not an image", "upload")
    Traceback (most recent call last):
    ...
    layerscope.errors.ImageError: upload: not a readable image (12 bytes; ...
    """
    max_pixels = max_pixels or None
    try:
        with _pil_limit(max_pixels):
            source = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            width, height = source.size
            if max_pixels is not None and width * height > max_pixels:
                raise _bomb_error(name, f"{width}x{height} = {width * height:,} pixels is over the limit of {max_pixels:,}")
            source.load()
            frames = _frame_count(source)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb_error(name, str(err)) from None
    except Image.UnidentifiedImageError:
        raise _error(
            name,
            f"not a readable image ({len(data):,} bytes; corrupt, empty or an unsupported format). "
            f"Supported formats: {', '.join(IMAGE_FORMATS)}.",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise _error(name, f"corrupt or truncated {_format_of(data)} file ({err}). Re-export or re-download it.") from None
    return _finish(source, name, background, frames)


def _frame_count(image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1))
    except (OSError, ValueError, EOFError, SyntaxError):  # a broken later frame: the first one is fine
        return 2
    finally:
        if image.tell() != 0:
            image.seek(0)


def _format_of(data: bytes) -> str:
    for magic, fmt in ((b"\x89PNG", "PNG"), (b"\xff\xd8", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
                       (b"RIFF", "WEBP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF")):
        if data.startswith(magic):
            return fmt
    return "image"


def _finish(source: Image.Image, name: str, background: tuple[int, int, int], frames: int) -> LoadedImage:
    notes: list[str] = []
    original_mode, original_size = source.mode, source.size
    if frames > 1:
        notes.append(f"{source.format} has {frames} frames (animated or multi-page); using the first frame")
    orientation = source.getexif().get(0x0112, 1)
    try:
        image = ImageOps.exif_transpose(source)
    except (OSError, ValueError, SyntaxError):
        image = source
    if orientation not in (1, None):
        notes.append(f"rotated/flipped upright per EXIF orientation {orientation}")
    try:
        image, mode_notes = to_rgb_or_l(image, background, _bits_per_sample(source))
    except ImageError as err:
        raise _error(name, str(err)) from None
    image = image.copy() if image is source else image
    source.close()
    return LoadedImage(image, name, notes + mode_notes, original_mode, original_size)


def as_loaded_image(
    item: Union[PathLike, Image.Image, np.ndarray, LoadedImage], *, background: tuple[int, int, int] = WHITE,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """A path, PIL image, uint8 array (H, W) / (H, W, 3|4) or LoadedImage as a LoadedImage.

    >>> as_loaded_image(np.zeros((2, 5), np.uint8)).image.size
    (5, 2)
    """
    if isinstance(item, LoadedImage):
        return item
    if isinstance(item, (str, os.PathLike)):
        return load_image(item, background=background, max_pixels=max_pixels)
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (1, 3, 4)):
            raise ImageError(
                f"An image array must be uint8 (H, W) or (H, W, 1|3|4); got {item.dtype} {item.shape}. "
                f"Convert it first, e.g. (x * 255).round().astype('uint8')."
            )
        label = f"<array {item.shape}>"
        item = Image.fromarray(item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item)
    else:
        label = "<PIL image>"
    if isinstance(item, Image.Image):
        image, notes = to_rgb_or_l(item, background)
        return LoadedImage(image, label, notes, item.mode, item.size)
    raise ImageError(
        f"Cannot use {type(item).__name__} as an image; give a file path, a PIL.Image or a uint8 numpy array."
    )
