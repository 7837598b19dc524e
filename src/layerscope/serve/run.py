"""Run the explorer: uvicorn on 127.0.0.1 (a warning for any other address), or a self-test that exits.

>>> exposed_warning("0.0.0.0")[:45]
'warning: binding 0.0.0.0 exposes the explorer'
>>> exposed_warning("127.0.0.1") is None
True
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import threading
import time
import urllib.request
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import AddressError, require
from ..render.png import encode_png
from .app import create_app
from .explorer import Explorer
from .options import ServeOptions

__all__ = ["serve", "self_test", "explorer_of", "exposed_warning", "LOOPBACK", "free_port"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposed_warning(host: str) -> Optional[str]:
    """The warning printed when ``host`` is not a loopback address; None for 127.0.0.1 / localhost / ::1."""
    if host in LOOPBACK:
        return None
    return (f"warning: binding {host} exposes the explorer to other machines on the network: anyone who can reach "
            f"it can run the model on their files. Use --host 127.0.0.1 unless you mean it.")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (:class:`~layerscope.errors.AddressError` when none can be had)."""
    return check_address(host, 0)


def check_address(host: str, port: int) -> int:
    """Bind ``host:port`` once, as the server will, and give the port back (a free one for ``port=0``).

    A failure becomes one line that says what is wrong and the fix, instead of a traceback from inside
    the server's thread:

    >>> check_address("192.0.2.1", 0)  # an address of no machine here (TEST-NET-1)
    Traceback (most recent call last):
    ...
    layerscope.errors.AddressError: Cannot listen on 192.0.2.1:0: the address is not one of this machine's ...
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            probe.bind((host, port))
            return int(probe.getsockname()[1])
    except OSError as err:
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if err.errno == errno.EADDRINUSE:
            why = (f"Port {port} on {host} is in use (another explorer or server?); pick another with --port N, or "
                   f"--port 0 for a free one.")
        elif host in LOOPBACK or host == "::1":
            why = (f"Cannot listen on {shown}: the loopback interface looks down or missing ({err.strerror}); "
                   f"bring it up (`ip link set lo up`) or pass --host with an address of this machine.")
        elif err.errno == errno.EADDRNOTAVAIL:
            why = (f"Cannot listen on {shown}: the address is not one of this machine's ({err.strerror}); pass "
                   f"--host 127.0.0.1 (the default) or an address this machine has.")
        else:
            why = f"Cannot listen on {shown} ({err.strerror or err}); pass another --host or --port."
        raise AddressError(why) from None


def _server(explorer: Explorer, host: str, port: int, log_level: str):
    uvicorn = require("uvicorn", "serve", "The explorer")
    allowed = (*LOOPBACK, "[::1]") if host in LOOPBACK else (*LOOPBACK, "[::1]", host, "*")
    config = uvicorn.Config(create_app(explorer, allowed_hosts=allowed), host=host, port=port, log_level=log_level,
                            ws_max_size=explorer.limits.max_frame_bytes + 4096, lifespan="off")
    return uvicorn.Server(config)


def explorer_of(model: Any, images: Sequence[Any], options: ServeOptions, *, layers: Any = None,
                preprocessing: Any = None) -> Explorer:
    """The :class:`~layerscope.serve.explorer.Explorer` that ``serve`` and ``self_test`` start."""
    return Explorer(model, layers=layers, images=images, preprocessing=preprocessing, limits=options.limits,
                    samples=options.samples, views=options.views)


def serve(model: Any, images: Sequence[Any] = (), options: Optional[ServeOptions] = None, *, layers: Any = None,
          preprocessing: Any = None, **fields: Any) -> None:
    """Serve the explorer for ``model`` until interrupted (Ctrl-C).

    ``model``: a spec, an ``nn.Module``, a ``LoadedModel`` or a :class:`~layerscope.run.Subject` (resolved
    once); ``images``: pictures to offer as picks; ``options``: a :class:`~layerscope.serve.ServeOptions`
    (host, port, samples, limits, log level), whose fields may also be given as keywords (``port=0`` picks
    a free port).
    """
    options = ServeOptions.of(options, **fields)
    explorer = explorer_of(model, images, options, layers=layers, preprocessing=preprocessing)
    host = options.host
    warning = exposed_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    port = check_address(host, options.port)
    shown = f"[{host}]" if ":" in host else host
    print(f"layerscope explorer: http://{shown}:{port}/  ({explorer.loaded.spec}, {len(explorer.layer_names)} layers; "
          f"Ctrl-C stops it)", flush=True)
    _server(explorer, host, port, options.log_level).run()


def self_test(model: Any, images: Sequence[Any] = (), options: Optional[ServeOptions] = None, *, layers: Any = None,
              preprocessing: Any = None, **fields: Any) -> dict[str, Any]:
    """Start the explorer on a free 127.0.0.1 port, load its page and analyse one input through HTTP, stop.

    Arguments as for :func:`serve` (``host`` and ``port`` are not used). Returns what was measured (page
    size, analysis time); raises when any step fails.
    """
    explorer = explorer_of(model, images, ServeOptions.of(options, **fields), layers=layers,
                           preprocessing=preprocessing)
    port = free_port()  # raises AddressError in one line when the loopback is down
    server = _server(explorer, "127.0.0.1", port, "error")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base, server, thread)
        with urllib.request.urlopen(base + "/") as response:
            page = response.read()
        if explorer.samples:
            request = urllib.request.Request(base + "/api/sample/0", method="POST", data=b"")
        else:
            request = urllib.request.Request(base + "/api/upload", method="POST", data=_probe_png(),
                                             headers={"Content-Type": "image/png", "X-Filename": "probe.png"})
        with urllib.request.urlopen(request) as response:
            item = json.load(response)["items"][0]
        start = time.perf_counter()
        with urllib.request.urlopen(f"{base}/api/analyze?item={item['id']}&layer=0&channels=16") as response:
            answer = json.load(response)
        seconds = time.perf_counter() - start
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return {"url": base + "/", "page_bytes": len(page), "input": item["name"], "layer": answer["data"]["layers"][0]["name"],
            "analysis_seconds": round(seconds, 3), "layers": len(explorer.layer_names)}


def _wait(base: str, server: Any, thread: Optional[threading.Thread] = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if thread is not None and not thread.is_alive():
            raise AddressError(f"The explorer's server stopped before it listened at {base} (see its log above); "
                               f"pass another --port.")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the explorer did not start at {base} within {timeout:.0f} s")
        time.sleep(0.02)


def _probe_png() -> bytes:
    ramp = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    return encode_png(ramp)
