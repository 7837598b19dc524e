"""The explorer on a real uvicorn server: HTTP and a websocket from a client, the self-test, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from websockets.sync.client import connect

from layerscope.cli import main
from layerscope.serve import self_test
from layerscope.serve.run import exposed_warning, free_port

from .helpers import jpeg, model, stripes


def test_page_and_live_socket_over_real_http(running):
    with urllib.request.urlopen(running.url) as response:
        assert response.status == 200 and b"layerscope explorer" in response.read()
    url = running.url.replace("http:", "ws:") + "api/live"
    with connect(url, origin=running.url.rstrip("/")) as socket:
        socket.send(json.dumps({"layer": 0, "channels": 8}))
        socket.send(jpeg(stripes(True)))
        answer = json.loads(socket.recv(timeout=60))
    assert answer["layer"] == "conv1" and answer["grid"].startswith("data:image/png;base64,")


def test_self_test_runs_the_whole_path():
    report = self_test(model(), samples=False)
    assert report["layer"] == "conv1" and report["page_bytes"] > 20_000 and report["url"].startswith("http://127.0.0.1:")


def test_cli_self_test(capsys):
    assert main(["serve", "builtin:digits", "--self-test", "--no-samples"]) == 0
    printed = capsys.readouterr().out
    assert "layerscope explorer self-test: ok" in printed and '"layer": "conv1"' in printed


def test_binding_elsewhere_than_loopback_warns(tmp_path):
    assert exposed_warning("127.0.0.1") is None and "exposes the explorer" in exposed_warning("0.0.0.0")
    port = free_port("127.0.0.2")  # still this machine, but not the loopback name: the warning shows
    process = subprocess.Popen(
        [sys.executable, "-m", "layerscope", "serve", "builtin:digits", "--host", "127.0.0.2", "--port", str(port),
         "--no-samples"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        line = process.stdout.readline()
        assert line.startswith(f"layerscope explorer: http://127.0.0.2:{port}/")
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.2:{port}/api/health", timeout=5) as response:
                    assert json.load(response)["layers"] == ["conv1", "conv2"]
                break
            except OSError:
                time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert "warning: binding 127.0.0.2 exposes the explorer" in err
