"""Explorer live mode, end to end: frames per second through a real server, against the bare forward; and
the memory the explorer holds after large uploads, against its byte budget.

    python benchmarks/bench_explorer.py [--models torchvision:resnet18 builtin:efficientnet_lite0] [--seconds 20]
    python benchmarks/bench_explorer.py --quick --json OUT

**Live.** For each model a ``layerscope serve`` process (uvicorn, 127.0.0.1, torch on the machine's cores)
is started; a client sends 320x240 JPEG camera frames over the live websocket, two in flight (as the page
does: one in the model, the next waiting), and counts the answers (grid PNG of the layer's top 16
channels, top channels, predictions). The baseline is the bare forward of the same model at the same
input size in a fresh process like the server's (``torch.inference_mode``, batch 1, in a worker
thread), timed in the same run, interleaved with the live rounds (shuffled order each round). Ratio =
live fps / bare fps within a round; the median over rounds and its 95% interval. ``--browser`` also
drives the page itself in Chromium with a fake camera.

**Memory.** An explorer of ResNet-18 (in this process) takes uploads of 6000x6000 PNG files and one video
of 3000x3000 frames (48 sampled frames; 16 with ``--quick``); the row is the bytes it holds afterwards
(:meth:`Explorer.held_bytes`) against its budget (``--memory-mb``, default 256), with the growth of the
process's resident memory beside it.

``--quick`` (ResNet-18 only, 3 rounds of 4 s, the smaller video) runs in about two minutes; ``--json OUT``
writes the rows (suite "explorer") for ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import figure_row, interval, ratio_row, write_rows  # noqa: E402

SUITE = "explorer"
IN_FLIGHT = 2  # as the page (explorer.js IN_FLIGHT)


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
    deadline = time.monotonic() + 60
    while True:  # the line comes before uvicorn listens
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5):
                return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"the explorer did not answer at port {port}: {process.stderr.read()}")
            time.sleep(0.1)


def live_fps(port: int, pictures: list[bytes], seconds: float, depth: int = IN_FLIGHT) -> tuple[float, float]:
    """Answers per second over ``seconds`` (after 3 warm-up frames) with ``depth`` frames in flight (the next
    one sent as each answer comes, as the page does), and the median server time per frame."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/api/live", origin=f"http://127.0.0.1:{port}", max_size=2**24) as socket:
        socket.send(json.dumps({"layer": 0, "channels": 16}))
        for k in range(3):
            socket.send(pictures[k % len(pictures)])
            json.loads(socket.recv())
        sent = 0
        for _ in range(depth):
            socket.send(pictures[sent % len(pictures)])
            sent += 1
        count, server, start = 0, [], time.perf_counter()
        while time.perf_counter() - start < seconds:
            answer = json.loads(socket.recv(timeout=60))
            if "error" in answer:
                raise RuntimeError(answer["error"])
            server.append(answer["ms"])
            count += 1
            socket.send(pictures[sent % len(pictures)])
            sent += 1
        rate = count / (time.perf_counter() - start)
        while answer["frame"] + answer["dropped"] < 3 + sent:  # the frames still in flight (or dropped)
            answer = json.loads(socket.recv(timeout=60))
        return rate, statistics.median(server)


BARE = """
import sys, threading, time, torch, layerscope as ls
loaded = ls.load_model(sys.argv[1])
pre = loaded.preprocessing
x = torch.rand(1, pre.channels or 3, *(pre.input_size or (224, 224)))
out = []

def run(seconds):
    with torch.inference_mode():
        for _ in range(3):
            loaded.module(x)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            loaded.module(x)
            count += 1
    out.append(count / (time.perf_counter() - start))

with torch.inference_mode():
    loaded.module(x)  # a first forward in the main thread, as the server's probe
print("ready", flush=True)
for line in sys.stdin:  # one measurement per line (its seconds), the model loaded once
    worker = threading.Thread(target=run, args=(float(line) / 2,))  # in a worker thread, as the server's forwards
    worker.start()
    worker.join()
    run(float(line) / 2)  # in the main thread: torch's own thread count
    print(out[-2], out[-1], flush=True)
"""


class Bare:
    """The bare model's forwards per second, batch 1, in a process of its own loaded once, measured on request:
    in a worker thread after a first forward in the main thread (as the server runs them: torch then runs the
    forward on one thread) and in the main thread (torch's default threads); the faster is the baseline."""

    def __init__(self, model: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", BARE, model], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the bare forward of {model} did not start")
        self.seen: list[tuple[float, float]] = []

    def fps(self, seconds: float) -> float:
        self.process.stdin.write(f"{seconds}\n")
        self.process.stdin.flush()
        worker, main = map(float, self.process.stdout.readline().split())
        self.seen.append((worker, main))
        return max(worker, main)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


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


def resident_bytes() -> int:
    """The process's resident memory now (Linux), after a collection."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def big_png(side: int = 6000, seed: int = 0) -> bytes:
    """A 6000x6000 PNG of thin lines: about 0.1 MB on disk, 108 MB decoded."""
    from PIL import Image

    pixels = np.zeros((side, side, 3), np.uint8)
    pixels[seed % 50 :: 50] = 255
    pixels[:, :: 70, 1] = 200
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def big_video(folder: Path, frames: int, side: int = 3000) -> bytes:
    """An MPEG-4 video of ``frames`` frames of ``side`` x ``side`` at 1 frame a second (every frame sampled)."""
    from layerscope.io.video import write_video

    ramp = np.linspace(0, 255, side, dtype=np.float32)
    picture = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1).astype(np.uint8)
    path = write_video(folder / "big.mp4", [np.roll(picture, 40 * k, axis=1) for k in range(frames)], fps=1)
    return path.read_bytes()


def memory_row(model: str, uploads: int, frames: int, budget_mb: float) -> dict:
    """Held bytes after ``uploads`` 6000x6000 PNG uploads and one video of ``frames`` 3000x3000 frames."""
    from layerscope.serve import DEFAULT_LIMITS, Explorer

    limits = DEFAULT_LIMITS.replace(max_memory=int(budget_mb * 2**20), max_video_frames=max(frames, 1))
    explorer = Explorer(model, layers="type:Conv2d", samples=False, limits=limits)
    with tempfile.TemporaryDirectory() as folder:
        video = big_video(Path(folder), frames)
        pictures = [big_png(seed=k) for k in range(uploads)]
        before = resident_bytes()
        start = time.perf_counter()
        for k, data in enumerate(pictures):
            explorer.add_upload(data, f"big{k}.png", "image/png")
        explorer.add_upload(video, "big.mp4", "video/mp4")
        seconds = time.perf_counter() - start
        held, grown = explorer.held_bytes(), resident_bytes() - before
    mb = held / 2**20
    return figure_row(
        f"explorer: MB held after {uploads} uploads of a 6000x6000 PNG and a video of {frames} 3000x3000 frames",
        mb, "MB", target=f"<= {budget_mb:g} (the budget)", meets=lambda v: v <= budget_mb,
        detail=f"{len(explorer.items)} inputs kept, at the size {model} reads; resident memory grew "
               f"{grown / 2**20:.0f} MB; {seconds:.1f} s for the uploads")


def live_rows(model: str, layer: str, seconds: float, rounds: int, browser: bool, pictures: list[bytes]) -> tuple:
    from layerscope.serve.run import free_port

    port = free_port()
    server = start_server(model, layer, port)
    baseline = Bare(model)
    try:
        bare, live, server_ms, page = [], [], [], []
        order = random.Random(0)
        for _ in range(rounds):  # interleaved, in a shuffled order: a busy neighbour slows both alike
            for which in order.sample(["bare", "live"], 2):
                if which == "bare":
                    bare.append(baseline.fps(seconds))
                else:
                    fps, ms = live_fps(port, pictures, seconds)
                    live.append(fps)
                    server_ms.append(ms)
            if browser:
                page.append(browser_fps(port, seconds))
    finally:
        baseline.close()
        server.terminate()
        server.wait(timeout=30)
    return bare, live, server_ms, page, baseline.seen


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help="models to stream (default torchvision:resnet18 builtin:efficientnet_lite0; --quick: resnet18)")
    parser.add_argument("--layer", default="type:Conv2d", help="layers offered (the first is streamed)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of live streaming a round (default 20; --quick 4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also measure the page in Chromium (fake camera)")
    parser.add_argument("--uploads", type=int, default=4, help="6000x6000 PNG uploads in the memory row")
    parser.add_argument("--frames", type=int, default=None, help="3000x3000 video frames in the memory row (48; --quick 16)")
    parser.add_argument("--memory-mb", type=float, default=256.0, help="the explorer's memory budget (default 256)")
    parser.add_argument("--quick", action="store_true", help="ResNet-18 only, 4 s rounds, a 16-frame video")
    parser.add_argument("--json", metavar="OUT", help="write the rows (suite explorer) to OUT")
    args = parser.parse_args()
    models = args.models or (["torchvision:resnet18"] if args.quick else ["torchvision:resnet18",
                                                                         "builtin:efficientnet_lite0"])
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    frames_kept = args.frames or (16 if args.quick else 48)
    pictures = frames()
    rows = []
    print(f"({load()} at the start)")
    print("| model | bare forward | live, end to end | live / bare | server time per frame |" + (
        " Chromium page |" if args.browser else ""))
    print("|---|---|---|---|---|" + ("---|" if args.browser else ""))
    for model in models:
        try:
            bare, live, server_ms, page, seen = live_rows(model, args.layer, seconds, args.rounds, args.browser, pictures)
        except RuntimeError as err:
            print(f"| {model} | not measured: {str(err).strip().splitlines()[-1]} |")
            continue
        b, f = statistics.median(bare), statistics.median(live)
        extra = f" {statistics.median(page):.1f} fps |" if args.browser else ""
        print(f"| {model} | {b:.1f} fps | {f:.1f} fps | {f / b:.2f} | {statistics.median(server_ms):.0f} ms |{extra}")
        worker, main = (statistics.median(v) for v in zip(*seen))
        detail = (f"live {f:.1f} fps, bare forward {b:.1f} fps (the faster of {worker:.1f} fps in a worker thread "
                  f"as the server runs it, {main:.1f} fps in the main thread), server "
                  f"{statistics.median(server_ms):.0f} ms a frame; {len(live)} rounds of {seconds:g} s; {load()}")
        print(f"  {detail}")
        rows.append(ratio_row(f"explorer live fps / bare forward fps, {model} at 224", live, bare, target=">= 0.8",
                              meets=lambda v: v >= 0.8, detail=detail))
        low, high = interval(live)
        rows.append(figure_row(f"explorer live fps, {model} at 224", f, "fps", target=">= 10",
                               meets=lambda v: v >= 10, detail=detail, low=low, high=high))
    row = memory_row(models[0], args.uploads, frames_kept, args.memory_mb)
    rows.append(row)
    print(f"\n{row['measure']}: {row['value']:.1f} MB (budget {args.memory_mb:g} MB); {row['detail']}")
    print(f"({load()} at the end)")
    write_rows(args.json, SUITE, rows)


if __name__ == "__main__":
    main()
