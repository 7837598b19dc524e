"""How a feature visualization is optimized (:class:`VisualizeOptions`) and what a channel card shows (:class:`CardOptions`).

>>> VisualizeOptions(steps=8, seed=1).replace(negative=True).negative
True
>>> VisualizeOptions(objective="chanel")
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown objective 'chanel'. Did you mean 'channel'? Use one of: channel, neuron, direction.
>>> CardOptions(examples=2).examples
2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..core.options import Options, positive_int
from ..errors import InputError, did_you_mean
from ..run.progress import progress_field
from .objectives import OBJECTIVES
from .targets import TARGET_HELP, check_target

__all__ = ["VisualizeOptions", "CardOptions", "CPU_STEPS", "GPU_STEPS"]

CPU_STEPS, GPU_STEPS = 128, 512


@dataclass(frozen=True)
class VisualizeOptions(Options):
    """The optimization of :func:`~layerscope.explain.visualize`.

    ``objective``: ``"channel"`` (mean activation), ``"neuron"`` (centre position) or
    ``"direction"`` (with ``direction``, a vector over the channels); ``negative``: minimize instead;
    ``diversity`` > 0 pushes the batch's images apart. ``steps``: default 128 on CPU, 512 on GPU;
    ``size``: the optimized resolution (default: the model's input size, at most 128), upsampled to
    the input size; ``lr``: Adam's step size; ``seed``: the same seed gives the same images;
    ``transforms``: small random pads, shifts, scales and rotations at every step; ``progress``: as
    :class:`~layerscope.run.RunOptions`' (a bar over the steps, a line up front when they will be long).
    """

    objective: str = field(default="channel", metadata={
        "help": "channel: mean activation (default); neuron: the centre position", "choices": ("channel", "neuron")})
    direction: Any = None
    negative: bool = field(default=False, metadata={"help": "what turns the channel off instead",
                                                     "action": "store_true"})
    diversity: float = field(default=0.0, metadata={"help": "push the images apart (e.g. 0.5)", "type": float,
                                                      "metavar": "W"})
    steps: Optional[int] = field(default=None, metadata={
        "help": "optimization steps (default 128 on CPU, 512 on GPU)", "type": int, "metavar": "N"})
    size: Optional[int] = field(default=None, metadata={
        "help": "optimized resolution (default min(128, size))", "type": int, "metavar": "PX", "flag": "--resolution"})
    lr: float = 0.05
    seed: int = field(default=0, metadata={"help": "random seed of the optimization (default 0)", "type": int})
    transforms: bool = True
    progress: Optional[bool] = progress_field()

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise InputError(f"Unknown objective {self.objective!r}.{did_you_mean(self.objective, OBJECTIVES)} "
                             f"Use one of: {', '.join(OBJECTIVES)}.")
        if self.objective == "direction" and self.direction is None:
            raise InputError("objective='direction' needs direction=, one vector over the layer's channels.")
        positive_int(self, "steps", allow_none=True)
        positive_int(self, "size", allow_none=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed={self.seed!r} must be an int.")
        if not self.lr > 0:
            raise InputError(f"lr={self.lr!r} must be a positive number.")


@dataclass(frozen=True)
class CardOptions(Options):
    """What :func:`~layerscope.explain.card` shows: ``examples`` top dataset examples (with a scan),
    the importance for ``target`` (a class index or name, None: each image's top prediction; or any target of
    :mod:`~layerscope.explain.targets`), and the
    visualization's ``steps`` and ``seed`` (:class:`VisualizeOptions`' defaults)."""

    examples: int = field(default=6, metadata={"help": "top dataset examples shown (default 6)", "type": int,
                                                "metavar": "K"})
    target: Any = field(default=None, metadata={"help": TARGET_HELP, "metavar": "TARGET"})
    steps: Optional[int] = field(default=None, metadata={
        "help": "optimization steps (default 128 on CPU, 512 on GPU)", "type": int, "metavar": "N"})
    seed: int = field(default=0, metadata={"help": "random seed of the optimization (default 0)", "type": int})

    def __post_init__(self) -> None:
        if isinstance(self.examples, bool) or not isinstance(self.examples, int) or self.examples < 0:
            raise InputError(f"examples={self.examples!r} must be an int of at least 0.")
        positive_int(self, "steps", allow_none=True)
        check_target(self.target)

    def visualization(self) -> VisualizeOptions:
        """The card's visualization settings."""
        return VisualizeOptions(steps=self.steps, seed=self.seed)
