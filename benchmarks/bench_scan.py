"""Dataset scan: throughput beside plain batched inference over the same JPEG files, EfficientNet-Lite0's every
layer over 13 photos beside its forward, memory against dataset size, state size and merge time.

    python benchmarks/bench_scan.py [--quick] [--json OUT] [--images 192] [--rounds 5] [--rss 1000,10000]
                                    [--cpu] [--threads N]

**Throughput.** ResNet-18 (random init, eval), 224x224, batch 32, every convolution (20 layers), top-9.
One ``DataLoader`` (default collate, ``--workers``) over a Dataset that reads JPEG files from disk and applies
the model's preprocessing; each round times, in a shuffled order (``common.interleave``), plain inference
(``for x in loader: model(x)`` under ``no_grad``) and ``layerscope.scan(model, loader, out=<fresh folder>)``
(the whole call: setup, receptive fields, every statistic, the final state write). Without ``--quick`` the
same pair runs over an in-memory Dataset of the preprocessed tensors too (the model side alone). Ratio = plain
time / scan time (the scan's throughput relative to inference; target >= 0.9), the median of the rounds'.
``--cpu`` adds the same ratios in CPU time of the process (``time.process_time``, every thread), which a
busy shared machine inflates far less than the wall time; with ``--threads 1`` idle worker threads do not
spin into it either. CPU time counts work, not overlap: the scan's reductions running beside the reading
of the next batch save wall time only.

**Every layer of EfficientNet-Lite0.** ``builtin:efficientnet_lite0`` (pretrained), its 49 default layers,
13 photos (JPEG crops of scikit-image's photos, ``layerscope.zoo.PHOTOS``) in one batch: ``scan`` of the
files (loaded model; the whole call, receptive fields included) against the plain forward of the 13
preprocessed photos. Target: scan <= 3x the forward + a fixed cost <= 5 s, written as the ratio
scan s / (3 x forward s + 5 s) <= 1; the plain scan / forward ratio is a row too.

**Memory.** Peak RSS (``VmHWM``; ``ru_maxrss`` where there is no ``/proc``) of a fresh process that scans N small images (32x32 PNG files on disk,
ResNet-18 at 32x32, every convolution, batch 32, top-9), for each N in ``--rss`` (``--quick``: 200 and 2,000,
a fifth of the full sizes): the scan keeps nothing per input, so the peaks should agree within 5%.

**Scale.** The state file of the 1,000-image scan (bytes per channel), and the time to merge 8 shard states of
it (skipped without a 1,000-image run).
"""

from __future__ import annotations

import argparse
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import figure_row, interleave, ratio_row, write_rows  # noqa: E402

BATCH = 32
SUITE = "scan"
FIXED_S = 5.0  # the fixed cost the Lite0 target allows


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


def throughput(images: int, rounds: int, workers: int, work: Path, memory: bool, cpu: bool = False) -> dict:
    torch.manual_seed(0)
    loaded = ls.load_model("torchvision:resnet18")
    model, pre = loaded.module.eval(), loaded.preprocessing
    paths = write_images(work / "jpeg", images, 256, "jpg")
    files = DataLoader(Files(paths, pre), batch_size=BATCH, num_workers=workers)
    contenders = {
        "plain files": lambda: plain(model, files),
        "scan files": lambda: ls.scan(model, files, out=tempfile.mkdtemp(dir=work), layers="type:Conv2d", k=9,
                                     progress=False),
    }
    kinds = ["files"]
    if memory:
        tensors = DataLoader(Tensors([Files(paths, pre)[i] for i in range(images)]), batch_size=BATCH)
        contenders["plain memory"] = lambda: plain(model, tensors)
        contenders["scan memory"] = lambda: ls.scan(model, tensors, out=tempfile.mkdtemp(dir=work),
                                                    layers="type:Conv2d", k=9, progress=False)
        kinds.append("memory")
    for warm in contenders.values():  # warm-up: the first call of each pays one-time costs (imports, allocator)
        warm()
    cpu_times: dict[str, list[float]] = {}
    times = interleave(contenders, rounds, cpu=cpu_times if cpu else None)
    return {"images": images, "times": times, "cpu_times": cpu_times, "kinds": kinds,
            "median_s": {k: statistics.median(v) for k, v in times.items()},
            "images_per_s": {k: images / statistics.median(v) for k, v in times.items()}}


def photos(folder: Path, count: int = 13) -> list[Path]:
    """``count`` JPEG photos: scikit-image's photos and four crops of each (corners), at quality 95."""
    from layerscope.zoo import PHOTOS, sample_photo

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PHOTOS:
        image = sample_photo(name)
        w, h = image.size
        for box in [(0, 0, w, h), (0, 0, w * 3 // 4, h * 3 // 4), (w // 4, h // 4, w, h), (0, h // 4, w * 3 // 4, h),
                    (w // 4, 0, w, h * 3 // 4)]:
            if len(paths) < count:
                paths.append(folder / f"{name}-{len(paths):02d}.jpg")
                image.crop(box).save(paths[-1], quality=95)
    return paths


def lite0(rounds: int, work: Path) -> dict:
    """Scan of every default layer of EfficientNet-Lite0 over 13 photos against the plain forward of them."""
    subject = ls.run.Subject.of("builtin:efficientnet_lite0")
    paths = photos(work / "photos")
    batch = torch.stack([subject.preprocessing(Image.open(p).convert("RGB")) for p in paths])

    def forward() -> None:
        with torch.no_grad():
            subject.module(batch)

    layers = []

    def scan() -> None:
        stats = ls.scan(subject, work / "photos", out=tempfile.mkdtemp(dir=work), progress=False)
        layers.append(len(stats.layers))

    forward()  # warm-up
    times = interleave({"forward": forward, "scan": scan}, rounds)
    return {"photos": len(paths), "layers": layers[-1], "times": times,
            "median_s": {k: statistics.median(v) for k, v in times.items()}}


RSS_CHILD = """
import resource, sys, layerscope as ls
stats = ls.scan(ls.load_model("torchvision:resnet18").with_preprocessing(size=32), sys.argv[1], out=sys.argv[2],
                layers="type:Conv2d", k=9, batch_size=32, progress=False)
try:  # this process's own peak: Linux's ru_maxrss keeps the parent's footprint at the fork across the exec
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(stats.inputs, peak)
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
    parser.add_argument("--quick", action="store_true",
                        help="a run of a few minutes: 96 images x 5 rounds, Lite0 x 3 rounds, RSS at 200 and 2,000")
    parser.add_argument("--images", type=int, help="images per throughput pass (default 192: 6 batches; quick 96)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 5)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument("--rss", help="dataset sizes for the memory test (default 1000,10000; quick 200,2000; '' skips)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-lite0", action="store_true")
    parser.add_argument("--json", help="write the rows ({suite, rows}, benchmarks/common.py) and the raw results here")
    parser.add_argument("--cpu", action="store_true", help="also the throughput ratios in CPU time")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = args.images or (96 if args.quick else 192)
    rounds = args.rounds or 5
    sizes = args.rss if args.rss is not None else ("200,2000" if args.quick else "1000,10000")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    load = os.getloadavg()[0]
    results: dict = {"machine": machine, "load_before": load, "quick": args.quick}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            results["throughput"] = t = throughput(images, rounds, args.workers, work, memory=not args.quick,
                                                   cpu=args.cpu)
            print(f"scan throughput ({machine}), ResNet-18 224x224, batch {BATCH}, 20 conv layers, top-9, "
                  f"{images} images, {rounds} interleaved rounds")
            for kind in t["kinds"]:
                plain_s, scan_s = t["times"]["plain " + kind], t["times"]["scan " + kind]
                row = ratio_row(f"ResNet-18 scan throughput / plain inference ({kind}: {'JPEG files' if kind == 'files' else 'tensors in memory'}, {images} images)",
                                plain_s, scan_s, target=">= 0.9" if kind == "files" else "",
                                meets=(lambda v: v >= 0.9) if kind == "files" else None,
                                detail=f"plain {t['images_per_s']['plain ' + kind]:.1f} img/s, scan "
                                       f"{t['images_per_s']['scan ' + kind]:.1f} img/s")
                rows.append(row)
                print(f"  {kind:6s}: {row['detail']}, ratio {row['value']:.3f} [{row['low']:.3f}, {row['high']:.3f}]")
                if t["cpu_times"]:
                    plain_c, scan_c = t["cpu_times"]["plain " + kind], t["cpu_times"]["scan " + kind]
                    row = ratio_row(f"ResNet-18 scan / plain inference in CPU time ({kind}, {images} images, "
                                    f"{torch.get_num_threads()} threads)", plain_c, scan_c,
                                    target=">= 0.9" if kind == "files" else "",
                                    meets=(lambda v: v >= 0.9) if kind == "files" else None,
                                    detail=f"plain {statistics.median(plain_c):.2f} s, scan "
                                           f"{statistics.median(scan_c):.2f} s CPU; load {os.getloadavg()[0]:.1f}")
                    rows.append(row)
                    print(f"  {kind:6s} CPU: {row['detail']}, ratio {row['value']:.3f} [{row['low']:.3f}, "
                          f"{row['high']:.3f}]")
        if not args.skip_lite0:
            results["lite0"] = e = lite0(3 if args.quick else rounds, work)
            forward_s, scan_s = e["times"]["forward"], e["times"]["scan"]
            detail = (f"{e['layers']} layers, {e['photos']} photos: scan {e['median_s']['scan']:.2f} s, forward "
                      f"{e['median_s']['forward']:.2f} s")
            rows.append(ratio_row(f"EfficientNet-Lite0 scan of every layer, 13 photos: scan / (3 x forward + {FIXED_S:g} s)",
                                  scan_s, [3 * v + FIXED_S for v in forward_s], target="<= 1",
                                  meets=lambda v: v <= 1, detail=detail))
            rows.append(ratio_row("EfficientNet-Lite0 scan of every layer, 13 photos: scan / forward (no fixed cost taken off)",
                                  scan_s, forward_s, detail=detail))
            print(f"EfficientNet-Lite0, {detail}; scan / (3 x forward + {FIXED_S:g} s) {rows[-2]['value']:.2f} "
                  f"[{rows[-2]['low']:.2f}, {rows[-2]['high']:.2f}] (target <= 1); scan / forward {rows[-1]['value']:.2f}")
        if sizes:
            counts = [int(c) for c in sizes.split(",")]
            results["rss"] = found = rss(counts, work)
            low, high = found[counts[0]]["peak_rss_mib"], found[counts[-1]]["peak_rss_mib"]
            print("peak RSS: " + ", ".join(f"{c:,} images {found[c]['peak_rss_mib']:.1f} MiB "
                                            f"({found[c]['seconds']:.0f} s)" for c in counts)
                  + f"; {counts[-1]:,} vs {counts[0]:,}: {100 * (high / low - 1):+.1f}%")
            rows.append(figure_row(f"scan peak RSS, {counts[-1]:,} / {counts[0]:,} images (32x32 PNG, ResNet-18, "
                                   f"20 convs{'; quick: a fifth of 1,000 / 10,000' if args.quick else ''})",
                                   high / low, "x", target="<= 1.05", meets=lambda v: v <= 1.05,
                                   detail=f"{low:.1f} MiB vs {high:.1f} MiB"))
            if 1000 in found:
                results["scale"] = sc = scale(work)
                print(f"state: {sc['state_bytes'] / 2**20:.2f} MiB for {sc['layers']} layers, {sc['channels']} channels "
                      f"({sc['bytes_per_channel']:.0f} bytes a channel); merging 8 shard states: "
                      f"{sc['merge_8_shards_s']:.2f} s")
                rows.append(figure_row("scan state bytes per channel (ResNet-18, 20 convs, top-9)",
                                       sc["bytes_per_channel"], "B", detail=f"{sc['state_bytes'] / 2**20:.2f} MiB"))
                rows.append(figure_row("merge of 8 scan shard states", sc["merge_8_shards_s"], "s"))
    results["load_after"] = os.getloadavg()[0]
    print(f"load average (1 min): {load:.2f} before, {results['load_after']:.2f} after")
    write_rows(args.json, SUITE, rows, machine=machine, load=[load, results["load_after"]], raw=results)


if __name__ == "__main__":
    main()
