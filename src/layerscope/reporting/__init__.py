"""``layerscope.report``: the HTML report, and the page components every HTML view of layerscope uses.

>>> import torch, torch.nn as nn
>>> page = report(nn.Sequential(nn.Conv2d(3, 4, 3)), torch.rand(1, 3, 12, 12), diagnosis=False)
>>> page.html.count('class="ls-grid"'), "script-src &#39;sha256-" in page.html
(1, True)

``layerscope.report(model, images, out="r.html")`` is :func:`~layerscope.reporting.api.report`. Results of other tools plug in as :class:`Section`\\ s
(tables, figures, text) and per-channel dataset :class:`Example`\\ s.
"""

from .api import Report, report
from .layer import REPORT_OPTIONS
from .options import ReportOptions
from .page import VIEWS
from .sections import Example, Figure, Section, Table, Text

__all__ = ["report", "Report", "ReportOptions", "Section", "Table", "Figure", "Text", "Example", "REPORT_OPTIONS",
           "VIEWS"]
