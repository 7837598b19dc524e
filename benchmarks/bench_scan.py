"""Dataset scan: throughput beside plain batched inference over the same DataLoader, memory against dataset size,
state size and merge time.

    python benchmarks/bench_scan.py [--images 192] [--rounds 3] [--rss 1000,10000] [--json OUT]

**Throughput.** ResNet-18 (random init, eval), 224x224, batch 32, every convolution (20 layers), top-9.
One ``DataLoader`` (default collate, ``--workers``) over a Dataset that reads JPEG files from disk and applies
the model's preprocessing; each round times, in alternating order, plain inference (``for x in loader:
model(x)`` under ``no_grad``) and ``layerscope.scan(model, loader, out=<fresh folder>)`` (the whole call:
setup, receptive fields, every statistic, the final state write). The same pair runs over an in-memory
Dataset of the preprocessed tensors, which shows the model side alone. Ratio = plain time / scan time (the
scan's throughput relative to inference; target >= 0.9); medians over rounds of the ratio within a round.

**Memory.** Peak RSS (``ru_maxrss``) of a fresh process that scans N small images (32x32 PNG files on disk,
ResNet-18 at 32x32, every convolution, batch 32, top-9), for each N in ``--rss``: the scan keeps nothing per
input, so the peaks should agree within 5%.

**Scale.** The state file of that scan (bytes per channel), and the time to merge 8 shard states of it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

import layerscope as ls

BATCH = 32


class Files(Dataset):
    """Image files read and preprocessed one by one (what a DataLoader over a folder does)."""

    def __init__(self, paths: list, preprocessing) -> None:
        self.paths, self.preprocessing = paths, preprocessing

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.paths[index]) as image:
            return self.preprocessing(image.convert("RGB"))


class Tensors(Dataset):
    def __init__(self, tensors: list) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tensors[index]


def write_images(folder: Path, count: int, size: int, fmt: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"img_{i:06d}.{fmt}"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def plain(model: torch.nn.Module, loader: DataLoader) -> None:
    with torch.no_grad():
        for x in loader:
            model(x)


def throughput(images: int, rounds: int, workers: int, work: Path) -> dict:
    torch.manual_seed(0)
    loaded = ls.load_model("torchvision:resnet18")
    model, pre = loaded.module.eval(), loaded.preprocessing
    paths = write_images(work / "jpeg", images, 256, "jpg")
    files = DataLoader(Files(paths, pre), batch_size=BATCH, num_workers=workers)
    memory = DataLoader(Tensors([Files(paths, pre)[i] for i in range(images)]), batch_size=BATCH)
    contenders = {
        "plain files": lambda: plain(model, files),
        "scan files": lambda: ls.scan(model, files, out=tempfile.mkdtemp(dir=work), layers="type:Conv2d", k=9,
                                     progress=False),
        "plain memory": lambda: plain(model, memory),
        "scan memory": lambda: ls.scan(model, memory, out=tempfile.mkdtemp(dir=work), layers="type:Conv2d", k=9,
                                     progress=False),
    }
    plain(model, memory)  # warm-up
    times: dict[str, list[float]] = {key: [] for key in contenders}
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
        for key in order:
            start = time.perf_counter()
            contenders[key]()
            times[key].append(time.perf_counter() - start)
            print(f"  round {r}: {key} {times[key][-1]:.2f} s", file=sys.stderr, flush=True)
    ratio = {kind: statistics.median(p / s for p, s in zip(times[f"plain {kind}"], times[f"scan {kind}"]))
             for kind in ("files", "memory")}
    rounds_ = {kind: [round(p / s, 3) for p, s in zip(times[f"plain {kind}"], times[f"scan {kind}"])]
               for kind in ("files", "memory")}
    return {"images": images, "median_s": {k: statistics.median(v) for k, v in times.items()}, "ratio": ratio,
            "ratio_rounds": rounds_, "images_per_s": {k: images / statistics.median(v) for k, v in times.items()}}


RSS_CHILD = """
import resource, sys, layerscope as ls
stats = ls.scan(ls.load_model("torchvision:resnet18").with_preprocessing(size=32), sys.argv[1], out=sys.argv[2],
                layers="type:Conv2d", k=9, batch_size=32, progress=False)
print(stats.inputs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def rss(counts: list[int], work: Path) -> dict:
    paths = write_images(work / "small", max(counts), 32, "png")
    found = {}
    for count in counts:
        folder = work / f"rss-{count}"
        folder.mkdir()
        for path in paths[:count]:
            os.link(path, folder / path.name)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", RSS_CHILD, str(folder), str(work / f"rss-out-{count}")],
                              capture_output=True, text=True, check=True)
        inputs, peak_kib = map(int, done.stdout.split()[-2:])
        found[count] = {"inputs": inputs, "peak_rss_mib": peak_kib / 1024, "seconds": time.perf_counter() - start}
        print(f"  rss: {count} images: {peak_kib / 1024:.1f} MiB", file=sys.stderr, flush=True)
    return found


def scale(work: Path) -> dict:
    """State size per channel and the time to merge 8 shard states (ResNet-18 at 32x32 on 1,000 images)."""
    folder = work / "rss-1000"
    model = ls.load_model("torchvision:resnet18").with_preprocessing(size=32)
    parts = []
    for i in range(8):
        ls.scan(model, folder, out=work / f"shard-{i}", shard=f"{i}/8", layers="type:Conv2d", k=9, progress=False)
        parts.append(work / f"shard-{i}")
    start = time.perf_counter()
    merged = ls.scanning.merge(parts, work / "merged")
    seconds = time.perf_counter() - start
    channels = sum(merged[name].channels for name in merged.layers)
    size = (work / "merged" / "stats.safetensors").stat().st_size
    return {"layers": len(merged.layers), "channels": channels, "state_bytes": size,
            "bytes_per_channel": size / channels, "merge_8_shards_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=192, help="images per throughput pass (default 192: 6 batches)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument("--rss", default="1000,10000", help="dataset sizes for the memory test ('' to skip)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    results: dict = {"machine": machine}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            results["throughput"] = t = throughput(args.images, args.rounds, args.workers, work)
            print(f"scan throughput ({machine}), ResNet-18 224x224, batch {BATCH}, 20 conv layers, top-9, "
                  f"{args.images} images, medians of {args.rounds} interleaved rounds")
            for kind in ("files", "memory"):
                print(f"  {kind:6s}: plain {t['images_per_s']['plain ' + kind]:.1f} img/s, scan "
                      f"{t['images_per_s']['scan ' + kind]:.1f} img/s, ratio {t['ratio'][kind]:.3f} "
                      f"(rounds {t['ratio_rounds'][kind]})")
        if args.rss:
            counts = [int(c) for c in args.rss.split(",")]
            results["rss"] = found = rss(counts, work)
            low, high = found[counts[0]]["peak_rss_mib"], found[counts[-1]]["peak_rss_mib"]
            print("peak RSS: " + ", ".join(f"{c:,} images {found[c]['peak_rss_mib']:.1f} MiB "
                                            f"({found[c]['seconds']:.0f} s)" for c in counts)
                  + f"; {counts[-1]:,} vs {counts[0]:,}: {100 * (high / low - 1):+.1f}%")
            if 1000 in found:
                results["scale"] = s = scale(work)
                print(f"state: {s['state_bytes'] / 2**20:.2f} MiB for {s['layers']} layers, {s['channels']} channels "
                      f"({s['bytes_per_channel']:.0f} bytes a channel); merging 8 shard states: "
                      f"{s['merge_8_shards_s']:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
