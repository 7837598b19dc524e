"""The synthetic probe set that channel labels are read from: one small function per probe family.

>>> probes = probe_set(32, textures=False)
>>> probes.images.shape, probes.images.dtype.name, len(probes.groups)
((114, 32, 32, 3), 'float32', 54)
>>> [p.name for p in probes.probes if p.family == "grating"][:2]
['grating 0°, 4 px, phase 0°', 'grating 0°, 4 px, phase 90°']

Every probe fills the whole picture (a stationary pattern), so every position of a channel's map sees
it; its pixels are RGB in [0, 1], and :func:`~layerscope.explain.labels.channel_labels` sends them
through the model's own :class:`~layerscope.io.preprocess.Preprocessing`. A probe belongs to a
*group* (its family and its main parameter: ``"grating 45°, 8 px"``, whose two phases are its
probes); a channel is labelled with a group. The set is fixed: the same size and seed give the same
pixels. The families:

- ``hue``: uniform colours, 12 hues 30° apart (red, orange, ... rose) at saturations 1 and 0.5 and values
  1 and 0.5 (a group per hue);
- ``grating``: sine gratings at 8 orientations (0° = horizontal stripes, counter-clockwise, 22.5° apart),
  periods 4, 8 and 16 px and phases 0° and 90° (a group per orientation and period);
- ``checkerboard``: squares of 2, 4, 8 and 16 px;
- ``dots``: lattices of discs of radius 1, 2 and 4 px, four radii apart, light on dark and dark on light;
- ``opponent``: square-wave colour edges, red/green and blue/yellow, at 0°, 45°, 90° and 135°, period 16 px;
- ``texture``: scikit-image's brick, grass and gravel photos (``pip install 'layerscope[samples]'``; nothing is
  downloaded): two crops at full scale (positions drawn with ``seed``) and one of the photo scaled to the size.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np
from PIL import Image

from ..errors import InputError, require

__all__ = ["Probe", "ProbeSet", "probe_set", "FAMILIES", "HUES", "ORIENTATIONS", "PERIODS", "TEXTURES"]

HUES = ("red", "orange", "yellow", "chartreuse", "green", "spring green", "cyan", "azure", "blue", "violet",
        "magenta", "rose")  # 30° apart, red at 0°
ORIENTATIONS = tuple(22.5 * i for i in range(8))  # degrees, 0 = horizontal stripes, counter-clockwise
PERIODS = (4, 8, 16)  # pixels
TEXTURES = ("brick", "grass", "gravel")  # scikit-image's bundled texture photos (greyscale, 512x512)
OPPONENTS = {"red/green": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)), "blue/yellow": ((0.0, 0.0, 1.0), (1.0, 1.0, 0.0))}


@dataclass(frozen=True)
class Probe:
    """One probe picture's description: its ``family``, its ``group`` (what a label names), its own ``name``
    and its ``params``."""

    family: str
    group: str
    name: str
    params: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {"family": self.family, "group": self.group, "name": self.name, "params": dict(self.params)}


@dataclass
class ProbeSet:
    """The probes (``probes[i]`` describes ``images[i]``, an (N, H, W, 3) float32 array in [0, 1]), their ``size``
    (H, W) and ``seed``. :meth:`pictures` gives them as PIL images for a model's preprocessing."""

    probes: list[Probe]
    images: np.ndarray
    size: tuple[int, int]
    seed: int

    def __len__(self) -> int:
        return len(self.probes)

    @property
    def groups(self) -> list[str]:
        """The groups in the order they first appear."""
        return list(dict.fromkeys(p.group for p in self.probes))

    def pictures(self) -> list[Image.Image]:
        return [Image.fromarray(np.round(image * 255).astype(np.uint8)) for image in self.images]

    def to_dict(self) -> dict:
        return {"size": list(self.size), "seed": self.seed, "probes": [p.to_dict() for p in self.probes]}


Made = list[tuple[Probe, np.ndarray]]


def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres: x to the right, y **up** (so that angles are counter-clockwise on screen)."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return x - (w - 1) / 2, (h - 1) / 2 - y


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def hues(size: tuple[int, int], rng: np.random.Generator) -> Made:
    """Uniform colours: every hue of :data:`HUES` at saturations 1 and 0.5 and values 1 and 0.5."""
    made = []
    for i, name in enumerate(HUES):
        for saturation in (1.0, 0.5):
            for value in (1.0, 0.5):
                colour = colorsys.hsv_to_rgb(i / len(HUES), saturation, value)
                group = f"hue {30 * i}° ({name})"
                made.append((Probe("hue", group, f"{group}, s {saturation:g}, v {value:g}",
                                   {"hue": 30 * i, "saturation": saturation, "value": value}),
                             np.broadcast_to(np.asarray(colour), (*size, 3))))
    return made


def grating(size: tuple[int, int], orientation: float, period: float, phase: float = 0.0) -> np.ndarray:
    """A grey sine grating whose stripes run at ``orientation`` degrees (0 horizontal, counter-clockwise), as an
    (H, W) array in [0, 1].

    >>> g = grating((8, 8), 90, 4)
    >>> bool(np.allclose(g[0], g[5])), bool(np.allclose(g[:, 0], g[:, 4]))
    (True, True)
    """
    x, y = _grid(size)
    theta = np.deg2rad(orientation)
    across = -x * np.sin(theta) + y * np.cos(theta)  # the distance across the stripes
    return 0.5 + 0.5 * np.sin(2 * np.pi * across / period + np.deg2rad(phase))


def gratings(size: tuple[int, int], rng: np.random.Generator) -> Made:
    """Sine gratings: every orientation of :data:`ORIENTATIONS` and period of :data:`PERIODS`, at phases 0° and 90°."""
    made = []
    for orientation in ORIENTATIONS:
        for period in PERIODS:
            group = f"grating {orientation:g}°, {period} px"
            for phase in (0, 90):
                made.append((Probe("grating", group, f"{group}, phase {phase}°",
                                   {"orientation": orientation, "period": period, "phase": phase}),
                             _rgb(grating(size, orientation, period, phase))))
    return made


def checkerboards(size: tuple[int, int], rng: np.random.Generator) -> Made:
    """Black and white checkerboards with squares of 2, 4, 8 and 16 px."""
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    return [(Probe("checkerboard", f"checkerboard {s} px", f"checkerboard {s} px", {"square": s}),
             _rgb(((x // s + y // s) % 2).astype(np.float64))) for s in (2, 4, 8, 16)]


def dots(size: tuple[int, int], rng: np.random.Generator) -> Made:
    """Square lattices of discs of radius 1, 2 and 4 px, ``4 * radius`` apart, light on dark and dark on light."""
    made = []
    y, x = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float64)
    for radius in (1, 2, 4):
        step = 4 * radius
        dy, dx = (y % step) - (step - 1) / 2, (x % step) - (step - 1) / 2
        disc = (dx**2 + dy**2 <= radius**2 + 0.5).astype(np.float64)
        for light, polarity in ((True, "light on dark"), (False, "dark on light")):
            group = f"dots {radius} px, {polarity}"
            made.append((Probe("dots", group, group, {"radius": radius, "light": light}),
                         _rgb(disc if light else 1 - disc)))
    return made


def opponents(size: tuple[int, int], rng: np.random.Generator) -> Made:
    """Square-wave edges between opponent colours (red/green, blue/yellow) at 0°, 45°, 90° and 135°, period 16 px."""
    made = []
    for pair, (one, other) in OPPONENTS.items():
        for orientation in (0, 45, 90, 135):
            side = grating(size, orientation, 16) >= 0.5
            group = f"{pair} edge {orientation}°"
            made.append((Probe("opponent", group, group, {"pair": pair, "orientation": orientation}),
                         np.where(side[..., None], np.asarray(one), np.asarray(other))))
    return made


def textures(size: tuple[int, int], rng: np.random.Generator) -> Made:
    """scikit-image's :data:`TEXTURES`: two crops at full scale (seeded positions), one of the whole photo scaled."""
    data = require("skimage.data", "samples", "channel labels' texture probes (or textures=False)")
    made = []
    h, w = size
    for name in TEXTURES:
        photo = Image.fromarray(np.asarray(getattr(data, name)())).convert("L")
        if photo.height < h or photo.width < w:
            photo = photo.resize((max(w, photo.width), max(h, photo.height)), Image.Resampling.BILINEAR)
        views = []
        for _ in range(2):
            top, left = int(rng.integers(0, photo.height - h + 1)), int(rng.integers(0, photo.width - w + 1))
            views.append(("crop", photo.crop((left, top, left + w, top + h))))
        views.append(("scaled", photo.resize((w, h), Image.Resampling.BOX)))
        for i, (how, view) in enumerate(views):
            made.append((Probe("texture", f"texture {name}", f"texture {name} ({how} {i + 1})", {"texture": name}),
                         _rgb(np.asarray(view, np.float64) / 255.0)))
    return made


FAMILIES: dict[str, Callable[[tuple[int, int], np.random.Generator], Made]] = {
    "hue": hues, "grating": gratings, "checkerboard": checkerboards, "dots": dots, "opponent": opponents,
    "texture": textures}


def probe_set(size: Union[int, tuple[int, int]] = 224, *, seed: int = 0, textures: bool = True) -> ProbeSet:
    """The probe set at ``size`` (an int or (H, W): the model's input size); ``textures=False`` leaves
    scikit-image's photos out. Each family is drawn from its own generator seeded with ``seed``."""
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if min(hw) < 16:
        raise InputError(f"probe size {hw} is too small: the probes need at least 16x16 pixels (a 16 px period).")
    made: Made = []
    for i, (family, make) in enumerate(FAMILIES.items()):
        if family == "texture" and not textures:
            continue
        made += make(hw, np.random.default_rng([seed, i]))
    images = np.stack([np.asarray(image, np.float32) for _, image in made])
    return ProbeSet([probe for probe, _ in made], np.clip(images, 0.0, 1.0), hw, seed)

