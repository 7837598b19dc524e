"""A real uvicorn server on a free 127.0.0.1 port, for the tests that talk HTTP like a browser does."""

from __future__ import annotations

import threading
import time

import pytest

from layerscope.serve import Explorer
from layerscope.serve.run import _server, free_port

from .helpers import model


class Running:
    def __init__(self, explorer: Explorer) -> None:
        self.port = free_port()
        self.server = _server(explorer, "127.0.0.1", self.port, "warning")
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def running():
    server = Running(Explorer(model()))
    yield server
    server.stop()
