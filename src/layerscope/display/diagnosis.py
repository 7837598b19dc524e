"""How a :class:`~layerscope.diagnosis.Diagnosis` shows itself in a notebook: the report's ``diagnosis``
component (the one HTML renderer), every string escaped.

>>> import torch, torch.nn as nn
>>> from layerscope.diagnosis import diagnose
>>> html = diagnose(nn.Conv2d(3, 4, 3), torch.rand(2, 3, 16, 16), channel_order=False)._repr_html_()
>>> html.startswith('<div class="layerscope">'), "input.noise" in html
(True, True)
"""

from __future__ import annotations

from ..core.display import html_for
from ..diagnosis.result import Diagnosis
from ..reporting.components import diagnosis_context, fragment

__all__ = ["diagnosis_html"]


@html_for(Diagnosis)
def diagnosis_html(diagnosis: Diagnosis) -> str:
    """The diagnosis as an HTML fragment: verdict, input findings, the layer table, reasons and tendency."""
    return fragment("diagnosis", diagnosis_context(diagnosis))
