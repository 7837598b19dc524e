"""Explorer live mode, end to end: frames per second through a real server, against the bare forward.

    python benchmarks/bench_explorer.py [--models torchvision:resnet18 builtin:efficientnet_lite0] [--seconds 20]

For each model a ``layerscope serve`` process (uvicorn, 127.0.0.1, torch on the machine's cores) is
started; a client sends 320x240 JPEG camera frames over the live websocket, one in flight at a time
(as the page does), and counts the answers (grid PNG of the layer's top 16 channels, top channels,
predictions). The baseline is the bare forward of the same model at the same input size in a fresh
process like the server's (``torch.inference_mode``, batch 1), timed in the same run, interleaved
with the live rounds. ``--browser`` also drives the page itself in Chromium with a fake camera.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def frames(count: int = 8) -> list[bytes]:
    from PIL import Image

    from layerscope.zoo import sample_photo

    photo = sample_photo("chelsea").convert("RGB").resize((320, 240))
    out = []
    for k in range(count):  # a slow pan: every frame differs
        shifted = np.roll(np.asarray(photo), 8 * k, axis=1)
        buffer = io.BytesIO()
        Image.fromarray(shifted).save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def start_server(model: str, layer: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "layerscope", "serve", model, "--port", str(port),
                                "--no-samples", "--layers", layer], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    line = process.stdout.readline()
    if not line.startswith("layerscope explorer:"):
        process.kill()
        raise RuntimeError(f"the explorer did not start: {line}{process.stderr.read()}")
    return process


def live_fps(port: int, pictures: list[bytes], seconds: float) -> tuple[float, float]:
    """Answers per second over ``seconds`` (after 3 warm-up frames), and the median server time per frame."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/api/live", origin=f"http://127.0.0.1:{port}", max_size=2**24) as socket:
        socket.send(json.dumps({"layer": 0, "channels": 16}))
        for k in range(3):
            socket.send(pictures[k % len(pictures)])
            json.loads(socket.recv())
        count, server, start = 0, [], time.perf_counter()
        while time.perf_counter() - start < seconds:
            socket.send(pictures[count % len(pictures)])
            answer = json.loads(socket.recv())
            if "error" in answer:
                raise RuntimeError(answer["error"])
            server.append(answer["ms"])
            count += 1
        return count / (time.perf_counter() - start), statistics.median(server)


BARE = """
import sys, threading, time, torch, layerscope as ls
loaded = ls.load_model(sys.argv[1])
pre = loaded.preprocessing
x = torch.rand(1, pre.channels or 3, *(pre.input_size or (224, 224)))
out = []

def run():  # in a worker thread, as the server runs its forwards
    with torch.inference_mode():
        for _ in range(3):
            loaded.module(x)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < float(sys.argv[2]):
            loaded.module(x)
            count += 1
    out.append(count / (time.perf_counter() - start))

worker = threading.Thread(target=run)
worker.start()
worker.join()
print(out[0])
"""


def bare_fps(model: str, seconds: float) -> float:
    """Forwards per second of the bare model, batch 1, in a worker thread of a fresh process (like the server's)."""
    out = subprocess.run([sys.executable, "-c", BARE, model, str(seconds)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def browser_fps(port: int, seconds: float) -> float:
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.click("#ls-live")
        stats = page.locator("#ls-live-stats")
        while int(stats.get_attribute("data-frames") or 0) < 3:
            page.wait_for_timeout(50)
        first, start = int(stats.get_attribute("data-frames")), time.perf_counter()
        page.wait_for_timeout(seconds * 1000)
        count = int(stats.get_attribute("data-frames")) - first
        browser.close()
    return count / (time.perf_counter() - start)


def main() -> None:
    from layerscope.serve.run import free_port

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["torchvision:resnet18", "builtin:efficientnet_lite0"])
    parser.add_argument("--layer", default="type:Conv2d", help="layers offered (the first is streamed)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also measure the page in Chromium (fake camera)")
    args = parser.parse_args()
    pictures = frames()
    print("| model | bare forward | live, end to end | live / bare | server time per frame |" + (
        " Chromium page |" if args.browser else ""))
    print("|---|---|---|---|---|" + ("---|" if args.browser else ""))
    for model in args.models:
        port = free_port()
        try:
            server = start_server(model, args.layer, port)
        except RuntimeError as err:
            print(f"| {model} | not measured: {str(err).strip().splitlines()[-1]} |")
            continue
        try:
            bare, live, server_ms, page = [], [], [], []
            for _ in range(args.rounds):  # interleaved: a busy neighbour slows both alike
                bare.append(bare_fps(model, args.seconds / 2))
                fps, ms = live_fps(port, pictures, args.seconds)
                live.append(fps)
                server_ms.append(ms)
                if args.browser:
                    page.append(browser_fps(port, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)
        b, f = statistics.median(bare), statistics.median(live)
        extra = f" {statistics.median(page):.1f} fps |" if args.browser else ""
        print(f"| {model} | {b:.1f} fps | {f:.1f} fps | {f / b:.2f} | {statistics.median(server_ms):.0f} ms |{extra}")


if __name__ == "__main__":
    main()
