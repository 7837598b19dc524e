"""How a :class:`~layerscope.explain.cards.Card` is drawn: numpy panels, text in the bitmap font.

>>> import numpy as np
>>> bars = histogram_bars([0.0, 1.0, 2.0, 3.0], [0, 4, 2], width=60, height=20)
>>> bars.shape, int((bars[:, :, 0] < 128).sum() > 0)
((50, 60, 3), 1)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..render._viewkit import text_band
from ..render.font import GLYPH_WIDTH, text_mask
from ..render.views import captioned

__all__ = ["draw_card", "histogram_bars", "with_labels"]

WHITE, INK, BAR = 255, 0, (68, 1, 84)  # bars in viridis' darkest colour
GAP = 6
PANEL_WIDTH = 160  # pixels: the visualization's side; the statistics panel is twice as wide
CROP = 64  # pixels: the longer side of each dataset example


def _resized(pixels: np.ndarray, side: int) -> np.ndarray:
    """``pixels`` scaled (nearest) so that the longer side is ``side``."""
    h, w = pixels.shape[:2]
    scale = side / max(h, w, 1)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.NEAREST))


def _stack(parts: Sequence[np.ndarray], axis: int) -> np.ndarray:
    """Pictures side by side (axis 1) or one under another (axis 0), padded white, GAP pixels apart."""
    other = 1 - axis
    size = max(p.shape[other] for p in parts)
    padded = []
    for part in parts:
        pad = [(0, 0), (0, 0), (0, 0)]
        pad[other] = (0, size - part.shape[other])
        padded.append(np.pad(part, pad, constant_values=WHITE))
        gap_shape = [0, 0, 3]
        gap_shape[axis], gap_shape[other] = GAP, size
        padded.append(np.full(gap_shape, WHITE, np.uint8))
    return np.concatenate(padded[:-1], axis=axis)


def histogram_bars(edges: Sequence[float], counts: Sequence[int], *, width: int, height: int,
                   bins: int = 12) -> np.ndarray:
    """Bars of the non-empty range of a histogram, regrouped into at most ``bins`` bins, each with its count above
    it, ``height`` pixels for the tallest bar, and the value range below.

    >>> picture = histogram_bars([0.0, 1.0, 2.0, 3.0, 4.0], [0, 4, 0, 2], width=60, height=20)
    >>> picture.shape  # counts (15 rows), bars (20), the range line (15)
    (50, 60, 3)
    >>> [int((picture[15:35, x, 0] != 255).sum()) for x in (10, 30, 50)]  # bar heights: 4 -> 20 px, 0, 2 -> 10 px
    [20, 0, 10]
    """
    counts = np.asarray(counts, np.int64)
    filled = np.flatnonzero(counts)
    if filled.size == 0:
        return text_band(["no peaks"], width)
    first, last = int(filled[0]), int(filled[-1]) + 1
    shown = counts[first:last]
    group = -(-len(shown) // max(1, min(bins, width // (GLYPH_WIDTH * 3))))  # bins wide enough for 2-digit counts
    shown = np.add.reduceat(shown, np.arange(0, len(shown), group))
    labels = text_band([""], width)
    picture = np.full((height, width, 3), WHITE, np.uint8)
    step = width / len(shown)
    for i, count in enumerate(shown.tolist()):
        left, right = round(i * step) + 1, round((i + 1) * step) - 1
        top = height - round(height * count / shown.max())
        picture[top:, left:right] = BAR
        text = text_mask(str(count))[:, : right - left + 2]
        at = max(0, (left + right - text.shape[1]) // 2)
        labels[2 : 2 + text.shape[0], at : at + text.shape[1]][text] = INK
    span = f"{edges[first]:.3g} .. {edges[last]:.3g}: {int(shown.sum())} inputs in {len(shown)} bins"
    return np.concatenate([labels, picture, text_band([span], width)])


def _statistics(stats: dict) -> np.ndarray:
    lines = [f"over {stats['inputs']} scanned inputs:", f"mean {stats['mean']:.3g}  std {stats['std']:.3g}",
             f"max {stats['max']:.3g}", f"active {100 * stats['active']:.1f}% of positions",
             f"on {100 * stats['active_inputs']:.0f}% of inputs", "peaks per input (histogram):"]
    text = text_band(lines, 2 * PANEL_WIDTH, left_aligned=True)
    bars = histogram_bars(stats["peaks"]["edges"], stats["peaks"]["counts"], width=2 * PANEL_WIDTH - 8, height=48)
    return _stack([text, np.pad(bars, [(0, 0), (4, 4), (0, 0)], constant_values=WHITE)], axis=0)



def _examples(examples: list, side: int) -> np.ndarray:
    tiles = []
    for pixels, entry in examples:
        tile = _resized(pixels, side)
        note = f"#{entry['rank'] + 1} {entry['score']:.3g}" + ("" if entry.get("reproduced", True) else " !")
        tiles.append(np.concatenate([tile, text_band([note], max(side, tile.shape[1]))[:, : tile.shape[1]]]))
    return captioned(_stack(tiles, axis=1), "top dataset examples (receptive-field crops, score = map max)")


def _judged(card: Any, width: int) -> np.ndarray:
    flags = ", ".join(card.flags) if card.flags else "none"
    lines = [f"diagnosis flags on {len(card.importance)} image(s): {flags}"]
    for row in card.importance:
        cls = f"{row['target']} ({row['class_name']})" if row.get("class_name") else str(row["target"])
        name = str(row["input"]).replace("\\", "/").rsplit("/", 1)[-1]
        cls = f"class {cls}" if isinstance(row["target"], int) else cls
        lines.append(f"{name}: importance for {cls} {row['importance']:.3g}, "
                     f"rank {row['rank']} of {row['channels']}")
    return text_band(lines, width, left_aligned=True)


def draw_card(card: Any) -> np.ndarray:
    """The card as one (H, W, 3) uint8 picture: title, visualization | statistics, examples, flags and importance."""
    top = [captioned(_resized(card.visualization, PANEL_WIDTH), "what it wants (visualization)")]
    if card.statistics:
        top.append(_statistics(card.statistics))
    rows = [_stack(top, axis=1)]
    if card.examples:
        rows.append(_examples(card.examples, CROP))
    width = max(row.shape[1] for row in rows)
    if card.importance is not None:
        rows.append(_judged(card, max(width, 2 * PANEL_WIDTH)))
    body = _stack(rows, axis=0)
    title = text_band([f"{card.model} | {card.layer} | channel {card.channel}"], body.shape[1])
    if getattr(card, "label", None) is not None:
        title = np.concatenate([title, text_band([card.label.line()], body.shape[1])])
    picture = np.concatenate([title, body])
    return np.pad(picture, [(4, 4), (4, 4), (0, 0)], constant_values=WHITE)


def with_labels(picture: np.ndarray, labels: Sequence[Any], *, max_lines: int = 16) -> np.ndarray:
    """``picture`` (H, W, 3) uint8 (a channel grid) with the channels' labels below it: one line per labelled
    channel (``ch 5: grating 45°, 8 px (5.1)``, the most selective first, at most ``max_lines``), then which have
    no clear match. A new array; ``picture`` is not modified.

    >>> from layerscope.explain.labels import ChannelLabel
    >>> found = [ChannelLabel(0, "hue 0° (red)", "hue 0° (red)", 5.2, True), ChannelLabel(1, "no clear match", "x", 1.0, False)]
    >>> with_labels(np.zeros((10, 200, 3), np.uint8), found).shape
    (36, 200, 3)
    """
    width = picture.shape[1]
    matched = sorted((c for c in labels if c.matched), key=lambda c: -c.score)
    lines = [f"ch {c.channel}: {c.label} ({c.score:.1f})" for c in matched[:max_lines]]
    if len(matched) > max_lines:
        lines.append(f"... {len(matched) - max_lines} more labelled channels")
    rest = [str(c.channel) for c in labels if not c.matched]
    if rest:
        shown = ", ".join(rest[:24]) + (f" ... ({len(rest)})" if len(rest) > 24 else "")
        lines.append(f"no clear match: ch {shown}")
    return np.concatenate([picture, text_band(lines or ["no channels"], width, left_aligned=True)])
