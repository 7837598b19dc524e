"""Text as pixel masks, from Pillow's built-in bitmap font (no matplotlib, no font files).

Channel labels are composed from cached digit glyphs in one indexing op for all tiles.

>>> number_masks([7, 12]).shape  # two labels, 7 px tall, two 6-px digits wide
(2, 7, 12)
>>> text_mask("conv1").shape
(11, 30)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

__all__ = ["GLYPH_HEIGHT", "GLYPH_WIDTH", "TEXT_HEIGHT", "digit_glyphs", "number_masks", "text_mask", "plain_text"]

GLYPH_WIDTH = 6  # Pillow's default bitmap font is monospaced: 6 x 11 px per character
TEXT_HEIGHT = 11
_DIGIT_ROWS = slice(2, 9)  # the rows of a 6 x 11 cell that the digits 0-9 use
GLYPH_HEIGHT = _DIGIT_ROWS.stop - _DIGIT_ROWS.start


@lru_cache(maxsize=1)
def _font():
    from PIL import ImageFont

    loader = getattr(ImageFont, "load_default_imagefont", None)  # Pillow >= 10.1
    return loader() if loader is not None else ImageFont.load_default()


BIDI_CONTROLS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def plain_text(text: str) -> str:
    """``text`` without bidirectional control characters (LRM/RLM, embeddings, overrides, isolates), which a
    drawn caption has no way to honour and which would otherwise come out as ``?``.

    >>> plain_text("conv\u202e1 | layer")
    'conv1 | layer'
    """
    return text.translate(BIDI_CONTROLS)


def text_mask(text: str) -> np.ndarray:
    """Boolean ``(11, 6 * len)`` mask of ``text`` (bidi controls dropped; other characters outside Latin-1 become
    ``?``)."""
    from PIL import Image, ImageDraw

    text = plain_text(text).encode("latin-1", errors="replace").decode("latin-1")
    width = max(GLYPH_WIDTH * len(text), 1)
    image = Image.new("L", (width, TEXT_HEIGHT), 0)
    ImageDraw.Draw(image).text((0, 0), text, fill=255, font=_font())
    return np.asarray(image) > 127


@lru_cache(maxsize=1)
def digit_glyphs() -> np.ndarray:
    """Read-only ``(11, 7, 6)`` masks of the digits 0-9, then a blank glyph at index 10."""
    cells = text_mask("0123456789 ")[_DIGIT_ROWS]
    glyphs = np.ascontiguousarray(cells.reshape(GLYPH_HEIGHT, 11, GLYPH_WIDTH).transpose(1, 0, 2))
    glyphs.setflags(write=False)
    return glyphs


def number_masks(numbers: Sequence[int]) -> np.ndarray:
    """Right-aligned masks ``(len(numbers), 7, 6 * digits)`` of non-negative ints, all one width."""
    values = np.asarray(numbers, dtype=np.int64).reshape(-1)
    if values.size and values.min() < 0:
        raise ValueError("number_masks draws non-negative integers only")
    digits = len(str(int(values.max()))) if values.size else 1
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    codes = (values[:, None] // powers) % 10
    blank = (values[:, None] < powers) & (powers > 1)  # leading zeros -> blank
    codes = np.where(blank, 10, codes)
    masks = digit_glyphs()[codes]  # (n, digits, 7, 6)
    return masks.transpose(0, 2, 1, 3).reshape(values.size, GLYPH_HEIGHT, digits * GLYPH_WIDTH)
