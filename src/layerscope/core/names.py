"""Names users type and names layerscope writes: one "choose from these names" rule, one safe file name.

>>> choose("robust", ("channel", "robust"), "normalization")
'robust'
>>> choose("robsut", ("channel", "robust"), "normalization", hint="See `layerscope show --help`.")
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown normalization 'robsut'. Did you mean 'robust'? Choose from: channel, robust. See `layerscope show --help`.
>>> safe_name("layer1.0/conv 1")
'layer1.0_conv_1'
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

from ..errors import InputError, did_you_mean

__all__ = ["choose", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def choose(value: str, names: Iterable[str], what: str, hint: Optional[str] = None) -> str:
    """``value`` when it is one of ``names``; else InputError naming it, the close names and every name.

    ``what`` names the kind of thing (``"view"``, ``"normalization"``); ``hint`` (a sentence) ends the
    message, e.g. where to list the names.

    >>> choose("gird", ["grid", "overlay"], "view")
    Traceback (most recent call last):
    ...
    layerscope.errors.InputError: Unknown view 'gird'. Did you mean 'grid'? Choose from: grid, overlay.
    """
    names = [str(name) for name in names]
    if value in names:
        return value
    message = f"Unknown {what} {value!r}.{did_you_mean(value, names)} Choose from: {', '.join(names)}."
    raise InputError(f"{message} {hint}" if hint else message)


def safe_name(text: str, empty: str = "output") -> str:
    """``text`` as a portable file name: runs of anything but letters, digits, ``.``, ``_`` and ``-`` become
    ``_``; leading and trailing dots and underscores go (no hidden files, no ``..``); ``empty`` when
    nothing is left.

    >>> safe_name("features.0"), safe_name("encoder/layers:3"), safe_name("..", empty="layer")
    ('features.0', 'encoder_layers_3', 'layer')
    """
    return _UNSAFE.sub("_", str(text)).strip("._") or empty
