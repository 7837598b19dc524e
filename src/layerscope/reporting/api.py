"""``layerscope.report``: one self-contained HTML file of a model's layers on a few inputs.

>>> import torch, torch.nn as nn, tempfile
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
>>> result = report(model, torch.rand(2, 3, 16, 16), out=tempfile.mkdtemp() + "/report.html")
>>> result.path.name, [view.name for view in result.page.layers], result.size > 10_000
('report.html', ['0', '2'], True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..core.files import write_atomic
from ..errors import InputError
from ..render.options import RenderOptions
from .build import MAX_INPUTS, check_views, page_from_activations, page_from_diagnosis, page_from_model
from .layer import REPORT_OPTIONS
from .page import Page

__all__ = ["report", "Report", "is_report"]

GENERATOR = '<meta name="generator" content="layerscope '


@dataclass
class Report:
    """A rendered report: the page, its HTML and where it was written (``path``, None when not written)."""

    page: Page
    html: str
    path: Optional[Path] = None

    @property
    def size(self) -> int:
        """Bytes of the HTML file (UTF-8)."""
        return len(self.html.encode("utf-8"))

    def save(self, path: Union[str, Path], *, overwrite: bool = False) -> Path:
        """Write the HTML atomically; an existing file is replaced only if it is a layerscope report or
        ``overwrite=True``."""
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise InputError(f"The report is an HTML file: name it with .html (got {str(path)!r}).")
        own = path.is_file() and is_report(path)
        self.path = write_atomic(self.html.encode("utf-8"), path, overwrite=overwrite or own)
        return self.path

    def _repr_html_(self) -> str:  # Jupyter: the page in a sandboxed frame (its own CSP still applies)
        import html

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
    options: Optional[RenderOptions] = None,
    views: Any = None,
    diagnosis: Any = True,
    sections: Any = (),
    examples: Any = None,
    title: Optional[str] = None,
    layouts: Optional[Mapping[str, str]] = None,
    preprocessing: Any = None,
    overwrite: bool = False,
    max_inputs: int = MAX_INPUTS,
    **option_fields: Any,
) -> Report:
    """Build the HTML report of ``layers`` of ``model`` on ``inputs``; write it to ``out`` when given.

    ``model``: a spec, an ``nn.Module`` or a ``LoadedModel`` (with ``inputs``: image files, folders,
    PIL images or an ``(N, C, H, W)`` tensor, at most ``max_inputs``); or captured
    :class:`~layerscope.Activations` (``inputs``, optional, the batch that was fed, for the input
    pictures); or a :class:`~layerscope.diagnosis.Diagnosis` (a page of its table). ``layers`` as
    :func:`~layerscope.capturing.select_layers` (default: every convolution).

    The page: the model card, the inputs as the model saw them with its top predictions (class names
    where the model's metadata has them), the layers shallow to deep with their mean maps, the
    diagnostics (``diagnosis=True`` runs :func:`layerscope.diagnose`; or pass a Diagnosis; False:
    none), and per layer a channel grid per input on a shared scale with flagged channels outlined.
    A click on a channel opens it enlarged with a colorbar, the value under the cursor, an overlay on
    the input and a normalization switch. ``views`` picks parts (``grid``, ``mean``, ``diagnostics``,
    ``predictions``; default all). ``options`` / keywords: a :class:`~layerscope.render.RenderOptions`
    (default :data:`~layerscope.reporting.layer.REPORT_OPTIONS`, the first 64 channels per layer).
    ``sections`` and ``examples`` plug in results of other tools (see :mod:`layerscope.reporting.sections`).

    ``out`` must end in ``.html``; an existing file is only replaced when it is an earlier layerscope
    report or ``overwrite=True``. The file needs nothing else: pictures are inlined and a
    Content-Security-Policy forbids every request.
    """
    from ..capturing.activations import Activations
    from ..diagnosis.result import Diagnosis

    options = RenderOptions.of(REPORT_OPTIONS if options is None else options, **option_fields)
    chosen = check_views(views)
    if isinstance(model, Diagnosis):
        page = page_from_diagnosis(model, sections=sections, title=title)
    elif isinstance(model, Activations):
        page = page_from_activations(model, inputs, options, views=chosen, layouts=layouts, preprocessing=preprocessing,
                                     diagnosis=diagnosis, sections=sections, examples=examples, title=title)
    else:
        from ..io.resolve import resolve_model

        if inputs is None:
            raise InputError("report(model, inputs): give the inputs to show (image files, a folder or a tensor).")
        loaded = resolve_model(model, preprocessing=preprocessing)
        page = page_from_model(loaded, inputs, layers, options, views=chosen, layouts=layouts, diagnosis=diagnosis,
                               sections=sections, examples=examples, title=title, max_inputs=max_inputs)
    result = Report(page, page.html())
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result
