"""This tree against an earlier revision: the same public calls, timed in each, interleaved round by round.

    python benchmarks/bench_versions.py [--base REV] [--rounds 7] [--json OUT]

``--base`` (default: the commit before the spine, ``b1bc3ed``) is checked out into a temporary git
worktree. Each round runs one worker process per tree, in alternating order; a worker imports its
tree's layerscope, builds the workloads once (ResNet-18 at random init, 224x224, 2 threads, 8 JPEG
photo crops written here) and times each call in-process (``time.perf_counter``, after one warm-up
call, the median of ``--calls``), so import time is left out:

- ``capture``: ``ls.capture(model, x)`` of every convolution, batch 1;
- ``show``: ``ls.show`` of 4 layers for 4 image files into a folder (grids written);
- ``scan``: ``ls.scan`` of 4 layers over 8 image files, batch 4, into a folder;
- ``report``: ``ls.report`` of 4 layers for 4 image files, with the diagnosis.

The figure per workload is the median over rounds of the ratio this/base within a round, with a 95%
bootstrap interval of that median: below 1 this tree is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from layerscope.zoo import PHOTOS, write_sample_images  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("capture", "show", "scan", "report")
LAYERS = ["layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"]

WORKER = r'''
import json, statistics, sys, time, tempfile
from pathlib import Path
import torch, torchvision
torch.set_num_threads(2)
import layerscope as ls
images, calls, layers = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
files = sorted(str(p) for p in Path(images).glob("*.jpg"))
torch.manual_seed(0)
model = torchvision.models.resnet18().eval()
x = torch.rand(1, 3, 224, 224)
work = Path(tempfile.mkdtemp())
jobs = {
    "capture": lambda: ls.capture(model, x, "type:Conv2d"),
    "show": lambda: ls.show(model, files[:4], layers, work / "show", overwrite=True),
    "scan": lambda: ls.scan(model, images, out=work / "scan", overwrite=True, layers=layers, batch_size=4),
    "report": lambda: ls.report(model, files[:4], out=work / "report.html", layers=layers, overwrite=True),
}
times = {}
for name, job in jobs.items():
    job()
    spent = []
    for _ in range(calls):
        start = time.perf_counter(); job(); spent.append(time.perf_counter() - start)
    times[name] = statistics.median(spent)
print(json.dumps(times))
'''


def bootstrap(values: list[float], draws: int = 2000) -> tuple[float, float]:
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="b1bc3ed")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-versions-"))
    base = work / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.base], check=True)
    try:
        images = work / "images"
        photos = write_sample_images(work / "photos", count=0, photos=PHOTOS)
        images.mkdir()
        for i in range(8):  # 8 different crops of the sample photos
            with Image.open(photos[i % len(photos)]) as photo:
                left = 20 * (i // len(photos))
                photo.convert("RGB").crop((left, left, left + 320, left + 320)).save(images / f"crop{i}.jpg")
        trees = {"this": ROOT / "src", "base": base / "src"}
        rounds: list[dict[str, dict[str, float]]] = []
        for number in range(args.rounds):
            order = list(trees) if number % 2 == 0 else list(reversed(trees))
            result = {}
            for name in order:
                env = {**os.environ, "PYTHONPATH": str(trees[name]), "OMP_NUM_THREADS": "2"}
                out = subprocess.run([sys.executable, "-c", WORKER, str(images), str(args.calls), json.dumps(LAYERS)],
                                     env=env, capture_output=True, text=True, check=True, cwd=work)
                result[name] = json.loads(out.stdout.strip().splitlines()[-1])
            rounds.append(result)
            print(f"round {number + 1}: " + ", ".join(f"{w} {result['this'][w] / result['base'][w]:.3f}"
                                                      for w in WORKLOADS), flush=True)
        table = {}
        for w in WORKLOADS:
            ratios = [r["this"][w] / r["base"][w] for r in rounds]
            low, high = bootstrap(ratios)
            table[w] = {"ratio": statistics.median(ratios), "low": low, "high": high,
                        "this_s": statistics.median(r["this"][w] for r in rounds),
                        "base_s": statistics.median(r["base"][w] for r in rounds)}
        print(f"\nthis tree / {args.base}, median of per-round ratios over {args.rounds} rounds (95% interval):")
        for w, row in table.items():
            print(f"  {w:<8} {row['ratio']:.3f} ({row['low']:.3f}-{row['high']:.3f})   "
                  f"{row['this_s'] * 1000:8.1f} ms vs {row['base_s'] * 1000:8.1f} ms")
        if args.json:
            Path(args.json).write_text(json.dumps({"base": args.base, "rounds": rounds, "table": table}, indent=1))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()
