"""Dataset examples of a channel, as data: what a scan or a channel card hands to the report's channel viewer.

>>> import numpy as np
>>> e = Example(np.zeros((4, 4, 3), np.uint8), "img 17", score=2.5, box=(0, 0, 2, 2))
>>> e.caption, e.score, e.box
('img 17', 2.5, (0, 0, 2, 2))

An analysis (``scanning``, ``explain``) makes them; the presentation tier
(:func:`layerscope.reporting.sections.as_examples`) turns their pictures into PNG data URIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["Example"]


@dataclass(frozen=True)
class Example:
    """One dataset example of a channel: a picture (a crop: an RGB array, PNG bytes, a PIL image, a ChannelGrid),
    a caption (which image, where), its score and, optionally, a box ``(left, top, right, bottom)`` in the
    picture's pixels to outline."""

    image: Any
    caption: str = ""
    score: Optional[float] = None
    box: Optional[tuple[int, int, int, int]] = None
