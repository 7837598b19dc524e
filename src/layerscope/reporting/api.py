"""``layerscope.report``: one self-contained HTML file of a model's layers on a few inputs.

>>> import torch, torch.nn as nn, tempfile
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
>>> result = report(model, torch.rand(2, 3, 16, 16), out=tempfile.mkdtemp() + "/report.html")
>>> result.path.name, [view.name for view in result.page.layers], result.size > 10_000
('report.html', ['1', '2'], True)
>>> result.summary().startswith("layerscope report: 2 layers x 2 inputs")
True
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Union

from ..capturing.activations import Activations
from ..core.options import share_out
from ..core.outputs import OutputFolder
from ..core.results import Result
from ..diagnosis.result import Diagnosis
from ..errors import InputError
from ..render.options import RenderOptions
from ..run import OutputOptions, RunOptions, Subject
from .build import page_from_activations, page_from_diagnosis, page_from_model
from .layer import REPORT_OPTIONS
from .options import ReportOptions
from .page import Page

__all__ = ["report", "Report", "is_report"]

GENERATOR = '<meta name="generator" content="layerscope '
SUBJECT_FIELDS = ("preprocessing", "layouts")  # keywords that go to Subject.of


@dataclass
class Report(Result):
    """A rendered report: the page, its HTML and where it was written (``path``, None when not written).

    ``save(out)`` writes the HTML file ``out`` (a path ending in ``.html``; a folder gets ``report.html``)
    and beside it its index (``NAME.json``: the inputs, their predictions, the layers, the verdict), under
    the one rule of output folders (:mod:`layerscope.core.outputs`).
    """

    index_name: ClassVar[str] = "report.json"

    page: Page
    html: str
    path: Optional[Path] = None

    @property
    def size(self) -> int:
        """Bytes of the HTML file (UTF-8)."""
        return len(self.html.encode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        page = self.page
        return {
            "title": page.title, "model": page.model, "views": list(page.views),
            "inputs": [{"name": card.name, "source": card.source, "notes": card.notes,
                        "predictions": [{"class": c, "probability": p} for c, p in card.predictions or []]}
                       for card in page.inputs],
            "layers": [{"name": v.name, "module_type": v.module_type, "shape": list(v.shape), "layout": v.layout,
                        "channels": v.total_channels, "shown": len(v.channels), "verdict": v.verdict,
                        "error": v.error} for v in page.layers],
            "diagnosis": None if page.diagnosis is None else {"verdict": page.diagnosis.verdict,
                                                              "headline": page.diagnosis.headline},
            "html": self.path.name if self.path is not None else None, "bytes": self.size,
        }

    def summary(self) -> str:
        page = self.page
        verdict = f", diagnosis: {page.diagnosis.verdict}" if page.diagnosis is not None else ""
        where = f", at {self.path}" if self.path else ""
        return (f"layerscope report: {len(page.layers)} layers x {len(page.inputs)} inputs, "
                f"{self.size / 1e6:.2f} MB{verdict}{where}.")

    def save(self, out: Union[str, Path], *, overwrite: bool = False) -> Path:
        """Write the HTML file atomically (and its index); returns its path. A file there is replaced when
        layerscope wrote it (an earlier report) or with ``overwrite=True``."""
        out = Path(out)
        if out.suffix.lower() in (".html", ".htm"):
            where, name = out.parent, out.name
        elif not out.suffix or out.is_dir():
            where, name = out, "report.html"
        else:
            raise InputError(f"The report is an HTML file: name it with .html (got {str(out)!r}).")
        folder = OutputFolder(where, Path(name).stem + ".json", overwrite=overwrite)
        if is_report(where / name):
            folder.owned.add(name)  # written by layerscope before reports had an index
        folder.claim([name, folder.index])
        self.path = folder.write(self.html.encode("utf-8"), name)
        folder.finish(self.to_dict(), indent=2)
        return self.path

    def _repr_html_(self) -> str:  # Jupyter: the page in a sandboxed frame (its own CSP still applies)
        return (f'<iframe sandbox="allow-scripts" srcdoc="{html.escape(self.html, quote=True)}" '
                f'width="100%" height="720" title="{html.escape(self.page.title)}"></iframe>')

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return (f"Report({len(self.page.layers)} layers x {len(self.page.inputs)} inputs, "
                f"{self.size / 1e6:.2f} MB{where})")


def is_report(path: Union[str, Path]) -> bool:
    """Whether ``path`` is an HTML file layerscope wrote (its generator tag in the first 2 KB)."""
    try:
        with open(path, "rb") as handle:
            return GENERATOR.encode() in handle.read(2048)
    except OSError:
        return False


def report(
    model: Any,
    inputs: Any = None,
    layers: Any = None,
    out: Union[str, Path, None] = None,
    *,
    options: Optional[ReportOptions] = None,
    render: Optional[RenderOptions] = None,
    run: Optional[RunOptions] = None,
    **fields: Any,
) -> Report:
    """Build the HTML report of ``layers`` of ``model`` on ``inputs``; write it to ``out`` when given.

    ``model``: a spec, an ``nn.Module``, a ``LoadedModel`` or a :class:`~layerscope.run.Subject` (with
    ``inputs``: image files, folders, PIL images or an ``(N, C, H, W)`` tensor, at most ``max_inputs``);
    or captured :class:`~layerscope.Activations` (``inputs``, optional, the batch that was fed, for the
    input pictures); or a :class:`~layerscope.diagnosis.Diagnosis` (a page of its table). ``layers`` as
    :func:`~layerscope.capturing.select_layers` (default: the subject's; for a CNN
    what follows each convolution's normalization and activation).

    The page: the model card, the inputs as the model saw them with its top predictions (class names
    where the model's metadata has them), the layers shallow to deep with their mean maps, the
    diagnostics, and per layer a channel grid per input on a shared scale with flagged channels
    outlined. A click on a channel opens it enlarged with a colorbar, the value under the cursor, an
    overlay on the input and a normalization switch.

    ``options``: a :class:`~layerscope.reporting.options.ReportOptions` (``views``, ``title``,
    ``diagnosis``, ``sections``, ``examples``, ``max_inputs``); ``render``: a
    :class:`~layerscope.render.RenderOptions` (default :data:`~layerscope.reporting.layer.REPORT_OPTIONS`,
    the first 64 channels per layer); ``run``: a :class:`~layerscope.run.RunOptions`; ``fields``:
    keywords naming fields of any of these (``max_channels=16``, ``cmap="magma"``, ``diagnosis=False``),
    ``overwrite`` and the subject's ``preprocessing`` and ``layouts``.

    ``out`` ends in ``.html`` (a folder gets ``report.html``); a file there is only replaced when
    layerscope wrote it or ``overwrite=True``. The file needs nothing else: pictures are inlined and a
    Content-Security-Policy forbids every request.
    """
    mine, drawing, running, output, subject_fields = share_out("report", fields, ReportOptions, RenderOptions,
                                                               RunOptions, OutputOptions, extra=SUBJECT_FIELDS)
    opts = ReportOptions.of(options, **mine)
    render = RenderOptions.of(REPORT_OPTIONS if render is None else render, **drawing)
    running_opts = RunOptions.of(run, **running)
    saving = OutputOptions.of(None, **output)
    if isinstance(model, Diagnosis):
        page = page_from_diagnosis(model, opts)
    elif isinstance(model, Activations):
        page = page_from_activations(model, inputs, opts, render, **subject_fields)
    else:
        if inputs is None:
            raise InputError("report(model, inputs): give the inputs to show (image files, a folder or a tensor).")
        subject = Subject.of(model, layers, device=running_opts.device, **subject_fields)
        page = page_from_model(subject, inputs, opts, render, running_opts)
    result = Report(page, page.html())
    if out is not None:
        result.save(out, overwrite=saving.overwrite)
    return result
