"""The one HTML renderer: Jinja2 templates with autoescape, for the report, the explorer and the Jupyter reprs.

Every string goes through autoescape; pictures are ``data:`` URIs; the page data is a JSON script
block (``tojson`` escapes ``<``, ``>``, ``&`` and ``'``); the page's one style and one script are
allowed by their SHA-256 hashes in a Content-Security-Policy, so nothing else can run and nothing
is fetched.

>>> html = fragment("verdict_badge", "bad", "</template><script>x</script>")
>>> "<script>" in html, "&lt;/template&gt;&lt;script&gt;" in html, 'class="layerscope"' in html
(False, True, True)
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from markupsafe import Markup, escape

from .._version import __version__
from ..diagnosis.text import COLUMNS, layer_rows
from ..render.colormap import palette

__all__ = ["fragment", "render_page", "PageAssets", "csp", "palettes_hex", "diagnosis_context", "STATIC"]

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
REPORT_SCRIPTS = ("viewer.js", "atlas.js")  # the report's script: the channel viewer, the dataset atlas's map
VIEWER_CMAPS = ("viridis", "magma", "inferno", "gray", "RdBu_r", "jet")


@lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment (autoescape on for every template, undefined names are errors)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["png_uri"] = lambda data: "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    env.filters["bdi"] = bdi
    return env


def bdi(text: object) -> Markup:
    """``text`` escaped inside ``<bdi>``: a name in its own direction, so that a right-to-left override in a
    layer or file name cannot reverse the text after it.

    >>> str(bdi("conv\u202e<1>"))
    '<bdi>conv\u202e&lt;1&gt;</bdi>'
    """
    return Markup("<bdi>") + escape(text) + Markup("</bdi>")


@lru_cache(maxsize=None)
def static_text(name: str) -> str:
    """A file of ``report/static`` (CSS or JS); checked to hold no closing tag that would end its element."""
    text = (STATIC / name).read_text(encoding="utf-8")
    if "</" in text.replace("<\\/", ""):  # pragma: no cover - guards the package's own files
        raise RuntimeError(f"report/static/{name} contains '</', which would end its <style>/<script> element")
    return text


def _macro(name: str):
    return getattr(environment().get_template("components.html").module, name)


def fragment(component: str, *args: Any, **kwargs: Any) -> str:
    """One component as a self-styled HTML fragment (for Jupyter): ``<div class="layerscope"><style>...``."""
    body = str(_macro(component)(*args, **kwargs))
    return f'<div class="layerscope"><style>{static_text("layerscope.css")}</style>{body}</div>'


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def csp(style: str, script: str, *, connect: str = "'none'", media: Optional[str] = None) -> str:
    """The Content-Security-Policy of a page whose only style and script are ``style`` and ``script``."""
    parts = [
        "default-src 'none'", "img-src data: blob:", f"style-src {_hash(style)}", f"script-src {_hash(script)}",
        f"connect-src {connect}", "base-uri 'none'", "form-action 'none'",
    ]
    if media:
        parts.append(f"media-src {media}")
    return "; ".join(parts)


@lru_cache(maxsize=None)
def palettes_hex(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The 256-entry palettes the viewer can switch between, as hex strings."""
    return {name: palette(name).tobytes().hex() for name in dict.fromkeys((*VIEWER_CMAPS, *extra))}


@dataclass(frozen=True)
class PageAssets:
    """A page's one style and one script, and the Content-Security-Policy that allows exactly them.

    Computed once, given to the page (its ``<meta>``) and, by a server, to its response header alike.

    >>> assets = PageAssets.of(("viewer.js",), connect="'self'")
    >>> "connect-src 'self'" in assets.csp and assets.csp == csp(assets.css, assets.js, connect="'self'")
    True
    """

    css: str
    js: str
    csp: str

    @classmethod
    def of(cls, scripts: tuple[str, ...] = REPORT_SCRIPTS, *, connect: str = "'none'",
           media: Optional[str] = None) -> "PageAssets":
        css = static_text("layerscope.css")
        js = "\n(() => {\n" + "\n".join(static_text(name) for name in scripts) + "\n})();\n"
        return cls(css, js, csp(css, js, connect=connect, media=media))


def render_page(template: str, *, title: str, data: dict, nav=(), assets: Optional[PageAssets] = None,
                **context: Any) -> str:
    """A whole document: ``template`` (extending ``page.html``) with the style, script, data and CSP
    (``assets``; default: the report's, :meth:`PageAssets.of`); the page's ``mode`` is ``data["mode"]``
    (default ``report``). Markup: the package's own style and script, checked by static_text: no escaping."""
    assets = assets if assets is not None else PageAssets.of()
    return environment().get_template(template).render(
        title=title, data=data, nav=list(nav), mode=data.get("mode", "report"), version=__version__, css=Markup(assets.css),
        js=Markup(assets.js), csp=assets.csp, **context,
    )


def diagnosis_context(diagnosis: Any, anchors: Optional[dict[str, int]] = None) -> dict[str, Any]:
    """What the ``diagnosis`` component shows of a :class:`~layerscope.diagnosis.Diagnosis`."""
    d, anchors = diagnosis, anchors or {}
    rows = [{"cells": row, "reason": layer.reason, "anchor": anchors.get(layer.name)}
            for layer, row in zip(d.layers, layer_rows(d))]
    return {
        "model": d.model, "inputs": d.inputs, "verdict": d.verdict,
        "headline": str(getattr(d, "headline", "") or "").partition(": ")[2],  # the headline's reason, where there is one
        "findings": list(d.input_findings), "columns": COLUMNS, "verdict_column": COLUMNS.index("verdict"),
        "rows": rows, "reasons": [(layer.name, layer.reason) for layer in d.layers if layer.verdict != "good"],
        "notes": list(d.notes), "tendency": d.tendency.message, "caveat": d.tendency.caveat,
    }
