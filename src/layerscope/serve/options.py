"""How the explorer is served: address, port, what it offers and accepts (:class:`ServeOptions`).

>>> ServeOptions(port=0).replace(samples=False).samples
False
>>> ServeOptions(port=70000)
Traceback (most recent call last):
...
layerscope.errors.InputError: port must be a number from 0 to 65535, got 70000.

CLI flags come from the fields (``--host``, ``--port``, ``--no-samples``) and from
:class:`~layerscope.serve.uploads.Limits` (``--max-upload-mb``, ``--max-pixels``, ``--video-fps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.options import Options
from ..errors import InputError
from ..render.views import check_views
from .uploads import DEFAULT_LIMITS, Limits

__all__ = ["ServeOptions", "LOG_LEVELS"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _views(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class ServeOptions(Options):
    """``host`` and ``port`` to bind (``port=0``: any free port; a host other than the loopback prints a
    warning), whether the sample photos are offered (``samples``), the upload ``limits`` and uvicorn's
    ``log_level``."""

    host: str = field(default="127.0.0.1", metadata={
        "help": "address to bind (default 127.0.0.1; others print a warning)"})
    port: int = field(default=8000, metadata={"help": "port (default 8000; 0 = any free port)", "type": int})
    samples: bool = field(default=True, metadata={
        "help": "do not offer the sample photos", "flag": "--no-samples", "action": "store_false"})
    limits: Limits = DEFAULT_LIMITS
    log_level: str = "warning"
    views: tuple[str, ...] = field(default=(), metadata={
        "help": "pictures of the views registry under an analysed layer, comma separated (e.g. overlay,pca); "
                "the same pictures show and the report draw", "flag": "--view", "type": _views, "metavar": "LIST"})

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise InputError(f"port must be a number from 0 to 65535, got {self.port!r}.")
        if not isinstance(self.host, str) or not self.host:
            raise InputError(f"host must be an address such as 127.0.0.1, got {self.host!r}.")
        if not isinstance(self.limits, Limits):
            raise InputError(f"limits must be a layerscope.serve.Limits, got {type(self.limits).__name__}.")
        object.__setattr__(self, "views", check_views(self.views) if self.views else ())
        if self.log_level not in LOG_LEVELS:
            raise InputError(f"log_level={self.log_level!r} is not one of {', '.join(LOG_LEVELS)}.")
