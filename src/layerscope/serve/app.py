"""The explorer's web app (Starlette): the page, uploads, sample picks, analyses and the live websocket.

Requests are checked before any work: the Host must be this machine's (no DNS rebinding), a request
that states an Origin must come from the page itself (no cross-site uploads or sockets), uploads are
read up to the size limit and sniffed for an image or video. Errors answer with JSON that carries the
page's own error panel; a model that fails on an input answers 422 with what it said.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import urlsplit

from ..errors import ForwardError, ImageError, InputError, LayerscopeError, require
from ..reporting.components import PageAssets, environment, palettes_hex, render_page
from .explorer import Explorer, UnknownItem
from .live import live_session
from .uploads import TooLargeError, UnsupportedType, check_size

__all__ = ["create_app", "explorer_page", "explorer_assets", "EXPLORER_SCRIPTS"]

EXPLORER_SCRIPTS = ("viewer.js", "explorer.js")
LOG = logging.getLogger("layerscope.serve")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def explorer_assets() -> PageAssets:
    """The explorer's style, script and policy: connections and media from the page itself (and the camera)."""
    return PageAssets.of(EXPLORER_SCRIPTS, connect="'self'", media="'self' blob: mediastream:")


def explorer_page(explorer: Explorer, assets: PageAssets) -> str:
    """The explorer's HTML (same shell, style and components as the report; connections to itself only), with
    ``assets``' style, script and Content-Security-Policy (the server sends the same policy as a header)."""
    data = {"mode": "explorer", "layers": [], "inputs": [], "palettes": palettes_hex(), "examples": {}}
    return render_page("explorer.html", title=f"layerscope explorer: {explorer.loaded.spec}", data=data,
                       nav=[("model", "Model"), ("explore", "Explore")], assets=assets,
                       page=explorer.page_context())


def _error_panel(title: str, message: str) -> str:
    return str(environment().get_template("components.html").module.error_panel(title, message))


def _status(err: LayerscopeError) -> tuple[int, str]:
    """The HTTP status and panel title of an error, chosen by its type (never by its message).

    >>> _status(TooLargeError("x")), _status(InputError("over the limit"))
    ((413, 'Too large'), (400, 'This request cannot be answered'))
    """
    if isinstance(err, UnknownItem):
        return 404, "Not found"
    if isinstance(err, UnsupportedType):
        return 415, "Not an image or a video"
    if isinstance(err, ForwardError):
        return 422, "The model failed on this input"
    if isinstance(err, ImageError):
        return 422, "This file could not be read"
    if isinstance(err, TooLargeError):
        return 413, "Too large"
    if isinstance(err, InputError):
        return 400, "This request cannot be answered"
    return 422, "The model failed on this input"


def create_app(explorer: Explorer, *, allowed_hosts: Any = LOCAL_HOSTS):
    """The Starlette app serving ``explorer`` (an :class:`~layerscope.serve.explorer.Explorer`)."""
    require("starlette", "serve", "The explorer")
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route, WebSocketRoute

    assets = explorer_assets()  # the one policy: in the page's <meta> and in every response header
    page = explorer_page(explorer, assets)
    headers = {"Content-Security-Policy": assets.csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
               "Cache-Control": "no-store", "X-Frame-Options": "DENY"}

    async def answer(work, *args) -> Any:
        try:
            return JSONResponse(await run_in_threadpool(work, *args), headers=headers)
        except LayerscopeError as err:
            status, title = _status(err)
            return JSONResponse({"error": str(err), "html": _error_panel(title, str(err))}, status, headers=headers)
        except Exception:  # a bug: say so on the page, keep the traceback in the server's log
            LOG.error("internal error\n%s", traceback.format_exc())
            message = "An internal error in layerscope (not in your input); the server's log has the traceback."
            return JSONResponse({"error": message, "html": _error_panel("Internal error", message)}, 500, headers=headers)

    def same_origin(request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or urlsplit(origin).netloc == request.headers.get("host")

    async def index(request):
        return HTMLResponse(page, headers=headers)

    async def upload(request):
        if not same_origin(request):
            return JSONResponse({"error": "cross-site request refused"}, 403, headers=headers)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > explorer.limits.max_bytes:
            return await answer(check_size, int(declared), explorer.limits)
        body, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > explorer.limits.max_bytes:
                return await answer(check_size, total, explorer.limits)
            body.append(chunk)
        data = b"".join(body)
        name, kind = request.headers.get("x-filename"), request.headers.get("content-type")
        return await answer(lambda: {"items": explorer.describe(explorer.add_upload(data, name, kind))})

    async def sample(request):
        if not same_origin(request):
            return JSONResponse({"error": "cross-site request refused"}, 403, headers=headers)
        index = request.path_params["index"]
        return await answer(lambda: {"items": explorer.describe([explorer.add_sample(index)])})

    async def analyze(request):
        q = request.query_params
        return await answer(explorer.analyze, q.get("item", ""), q.get("layer", "0"), q.get("channels", "64"))

    async def animation(request):
        q = request.query_params
        ids = [i for i in q.get("items", "").split(",") if i]
        return await answer(explorer.animation, ids, q.get("layer", "0"), q.get("channels", "16"))

    async def health(request):
        return JSONResponse({"ok": True, "model": explorer.loaded.spec, "layers": explorer.layer_names}, headers=headers)

    async def live(websocket):
        if not same_origin(websocket):
            await websocket.close(code=1008)
            return
        await live_session(websocket, explorer)

    routes = [
        Route("/", index), Route("/api/health", health), Route("/api/analyze", analyze), Route("/api/animation", animation),
        Route("/api/upload", upload, methods=["POST"]), Route("/api/sample/{index:int}", sample, methods=["POST"]),
        WebSocketRoute("/api/live", live),
    ]
    hosts = [h.strip("[]") for h in allowed_hosts] + list(allowed_hosts)
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=sorted(set(hosts)))])
