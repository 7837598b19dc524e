"""One error root for layerscope, with a subclass for each case users meet.

Every message names the bad value and the fix. The CLI maps any
:class:`LayerscopeError` to exit code 2 (bad usage or input); anything else is
an internal error (exit code 1).

>>> try:
...     raise LayerNotFoundError("no layer named 'feature.0'; did you mean 'features.0'?")
... except LayerscopeError as err:
...     print(type(err).__name__)
LayerNotFoundError
"""

from __future__ import annotations

__all__ = [
    "LayerscopeError",
    "LayerNotFoundError",
    "ImageError",
    "ModelSpecError",
    "CheckpointError",
    "UnsafeCheckpointError",
    "LayoutError",
    "InputError",
    "MissingDependencyError",
    "ForwardError",
    "AddressError",
    "did_you_mean",
    "require",
]


class LayerscopeError(Exception):
    """Root of every error layerscope raises on purpose."""


class LayerNotFoundError(LayerscopeError, KeyError):
    """A layer name, pattern or type selects no module of the model."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ImageError(LayerscopeError, ValueError):
    """An image file is missing, corrupt, truncated, too large or of an unsupported format."""


class ModelSpecError(LayerscopeError, ValueError):
    """A model spec (``torchvision:NAME``, ``builtin:NAME``, ``pkg.mod:factory`` ...) cannot be resolved."""


class CheckpointError(LayerscopeError, ValueError):
    """A checkpoint cannot be read or does not fit the model (missing / unexpected keys)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint would execute code when loaded and ``trust_checkpoint`` was not given."""


class LayoutError(LayerscopeError, ValueError):
    """An activation's shape cannot be turned into 2-D maps without an explicit layout."""


class InputError(LayerscopeError, ValueError):
    """An argument or model input is malformed (wrong type, shape, option value)."""


class ForwardError(LayerscopeError, RuntimeError):
    """The model's own forward raised on the given input (usually a wrong input shape, size or dtype)."""


class AddressError(LayerscopeError, OSError):
    """A server cannot listen where it was asked to (port in use, address not of this machine, loopback down)."""


class MissingDependencyError(LayerscopeError, ImportError):
    """An optional dependency is needed for this feature; the message names the pip extra."""


def did_you_mean(word: object, candidates, *, n: int = 3, cutoff: float = 0.5) -> str:
    """The hint every "unknown name" message ends with: ``" Did you mean 'a', 'b'?"`` or ``""``.

    Close matches by :func:`difflib.get_close_matches`; failing those, a case-insensitive match.
    To check a name against a fixed list, use :func:`layerscope.core.names.choose`, which raises the
    whole message ("Unknown ... Did you mean ...? Choose from: ...").

    >>> did_you_mean("feature.0", ["features.0", "classifier"])
    " Did you mean 'features.0'?"
    >>> did_you_mean("GRAY", ["gray", "viridis"]), did_you_mean("zzz", ["gray"])
    (" Did you mean 'gray'?", '')
    """
    import difflib

    candidates = [str(c) for c in candidates]
    text = str(word)
    close = difflib.get_close_matches(text, candidates, n=n, cutoff=cutoff)
    if not close:
        close = [c for c in candidates if c.lower() == text.lower()][:n]
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def require(module: str, extra: str, feature: str):
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the extra.

    >>> require("math", "none", "arithmetic").__name__
    'math'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{feature} needs the optional package {module!r}, which is not installed. "
            f"Install it with: pip install 'layerscope[{extra}]'"
        ) from err
