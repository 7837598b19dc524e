"""Fail fast offline: before a download, check within a few seconds that the server (or the proxy) answers.

>>> reachable("https://127.0.0.1:9/weights.pth", seconds=2)   # nothing listens on port 9 here
False

Without this, torchvision's and timm's downloads spend 11-50 s in DNS and connection retries
before they fail. Weights already in the local cache are never checked.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from typing import Optional
from urllib.parse import urlsplit

__all__ = ["reachable", "TIMEOUT"]

TIMEOUT = 4.0  # seconds for the name lookup and the connection together


def _endpoint(url: str) -> Optional[tuple[str, int]]:
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def reachable(url: str, seconds: float = TIMEOUT) -> bool:
    """Whether a TCP connection to ``url``'s host (or its proxy) opens within ``seconds``, name lookup included."""
    endpoint = _endpoint(url)
    if endpoint is None:
        return False
    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection(endpoint, timeout=seconds):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=connect, daemon=True)  # a stuck name lookup cannot be interrupted
    worker.start()
    worker.join(seconds)
    return bool(result and result[0])
