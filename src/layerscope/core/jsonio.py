"""One conversion to plain JSON types, used by every ``to_dict`` / ``index.json`` / ``--json`` writer.

>>> import numpy as np, torch
>>> jsonable({"a": np.float32(0.5), "b": (1, 2), "c": float("nan"), "d": torch.Size([2, 3]), 3: np.arange(2)})
{'a': 0.5, 'b': [1, 2], 'c': None, 'd': [2, 3], '3': [0, 1]}
>>> jsonable(1 / 3, digits=3)
0.333
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from typing import Any, Optional

import numpy as np

__all__ = ["jsonable"]


def jsonable(value: Any, *, digits: Optional[int] = None) -> Any:
    """``value`` as dicts, lists, str, int, float, bool and None.

    numpy scalars and arrays and tensors become Python numbers and lists; tuples, sets and
    ``torch.Size`` lists; NaN and +-Inf ``None`` (JSON has no such numbers); paths, dtypes and
    devices strings; dataclasses and objects with ``to_dict()`` their dict. ``digits`` rounds
    floats to that many significant digits (for human-sized output).
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return None
        return float(f"{number:.{digits}g}") if digits else number
    if isinstance(value, dict):
        return {str(k): jsonable(v, digits=digits) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, digits=digits) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), digits=digits)
    if isinstance(value, enum.Enum):
        return jsonable(value.value, digits=digits)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict(), digits=digits)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, digits=digits)
    if hasattr(value, "tolist"):  # tensors
        return jsonable(value.tolist(), digits=digits)
    return str(value)
