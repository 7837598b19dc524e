"""The explorer on a real uvicorn server: HTTP and a websocket from a client, the self-test, the CLI, the upload
limit (413 by the error's type), the one security policy, the server options and their flags."""

from __future__ import annotations

import argparse
import html
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.sync.client import connect

from layerscope.cli import main
from layerscope.errors import InputError
from layerscope.serve import DEFAULT_LIMITS, Explorer, Limits, ServeOptions, TooLargeError, self_test
from layerscope.serve.app import _status, explorer_assets
from layerscope.serve.explorer import UnknownItem
from layerscope.serve.run import exposed_warning, free_port
from layerscope.serve.uploads import UnsupportedType

from .conftest import Running
from .helpers import jpeg, model, png, stripes


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


def post(url: str, data: bytes, **headers: str) -> tuple[int, dict]:
    request = urllib.request.Request(url + "api/upload", data=data, method="POST",
                                     headers={"Content-Type": "image/png", "X-Filename": "big.png", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_an_upload_over_the_limit_is_413_by_its_error_type_over_real_http():
    server = Running(Explorer(model(), samples=False, limits=Limits(max_bytes=2_000)))
    try:
        status, body = post(server.url, png(np.zeros((16, 16, 3))) + bytes(3_000))
        assert status == 413 and "over the limit of 2,000 bytes" in body["error"] and 'role="alert"' in body["html"]
        status, _ = post(server.url, png(stripes(True)))  # under the limit: accepted
        assert status == 200
    finally:
        server.stop()


def test_the_status_is_chosen_by_the_error_type_not_its_words():
    assert _status(TooLargeError("too many bytes"))[0] == 413
    assert _status(InputError("a message that says over the limit"))[0] == 400  # no longer matched by its text
    assert _status(UnsupportedType("x"))[0] == 415 and _status(UnknownItem("x"))[0] == 404


def test_the_policy_header_is_the_one_in_the_page(running):
    with urllib.request.urlopen(running.url) as response:
        header, page = response.headers["Content-Security-Policy"], response.read().decode()
    assert header == explorer_assets().csp and "connect-src 'self'" in header and "media-src 'self' blob:" in header
    meta = page.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert html.unescape(meta) == header
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    assert script == explorer_assets().js  # the hash in the policy is of the script the page runs


def test_serve_options_and_limits_make_the_cli_flags():
    parser = argparse.ArgumentParser()
    ServeOptions.add_flags(parser)
    Limits.add_flags(parser)
    args = parser.parse_args(["--port", "0", "--no-samples", "--max-upload-mb", "0.5", "--video-fps", "2",
                              "--memory-mb", "64"])
    options, limits = ServeOptions.from_flags(args), Limits.from_flags(args, DEFAULT_LIMITS)
    assert (options.port, options.samples, options.host) == (0, False, "127.0.0.1")
    assert (limits.max_bytes, limits.video_fps, limits.max_pixels) == (2**19, 2.0, DEFAULT_LIMITS.max_pixels)
    assert limits.max_memory == 64 * 2**20 and DEFAULT_LIMITS.max_memory == 256 * 2**20
    for flag in ("--max-upload-mb", "--memory-mb"):
        with pytest.raises(SystemExit):
            parser.parse_args([flag, "0"])
    with pytest.raises(InputError, match="port must be a number from 0 to 65535, got 70000"):
        ServeOptions(port=70000)
    with pytest.raises(InputError, match=r"video_fps=0 must be a positive number"):
        Limits(video_fps=0)


def test_a_port_in_use_is_one_line_with_the_fix_and_exit_2(capsys):
    import socket as sockets

    from layerscope.errors import AddressError
    from layerscope.serve import serve

    with sockets.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AddressError, match=f"Port {port} on 127.0.0.1 is in use .*--port 0 for a free one"):
            serve("builtin:digits", port=port, samples=False)
        assert main(["serve", "builtin:digits", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"Port {port} on 127.0.0.1 is in use" in err and "Traceback" not in err and "internal error" not in err


def test_an_address_of_no_machine_here_is_named_not_a_traceback():
    from layerscope.errors import AddressError

    with pytest.raises(AddressError, match="192.0.2.1:0: the address is not one of this machine's"):
        free_port("192.0.2.1")
