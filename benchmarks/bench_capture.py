"""Capture overhead: layerscope capture of every conv layer vs a bare forward, side by side.

    python benchmarks/bench_capture.py [--repeat 15] [--size 224] [--models resnet18,vgg16] [--json OUT]

Each round times, interleaved so machine noise hits all alike: a bare forward
(eval, no_grad), layerscope.capture of every convolution, and torchvision's FX
feature extractor on the same layers (which returns overwritten values for
layers followed by in-place ops; shown for reference). Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor

from layerscope.capture import capture, select_layers


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(name: str, size: int, repeat: int) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, size, size)
    layers = select_layers(model)
    extractor = create_feature_extractor(model, return_nodes=layers)

    def bare():
        with torch.no_grad():
            model(x)

    def ours():
        capture(model, x, layers)

    def fx():
        with torch.no_grad():
            extractor(x)

    runs = {"bare": bare, "layerscope": ours, "fx": fx}
    for fn in runs.values():  # warm-up
        fn()
        fn()
    times = {key: [] for key in runs}
    for _ in range(repeat):
        for key, fn in runs.items():
            times[key].append(_timed(fn))
    med = {key: statistics.median(v) for key, v in times.items()}
    return {
        "model": name,
        "input": [1, 3, size, size],
        "layers": len(layers),
        "median_s": med,
        "capture_over_bare": med["layerscope"] / med["bare"],
        "fx_over_bare": med["fx"] / med["bare"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,vgg16")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    results = [bench(name, args.size, args.repeat) for name in args.models.split(",")]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    print(f"capture overhead ({machine}), medians of {args.repeat} interleaved rounds")
    for r in results:
        m = r["median_s"]
        print(
            f"  {r['model']:<10} {r['layers']:>3} conv layers  bare {m['bare'] * 1e3:7.1f} ms  "
            f"layerscope {m['layerscope'] * 1e3:7.1f} ms ({r['capture_over_bare']:.2f}x)  "
            f"fx-extractor {m['fx'] * 1e3:7.1f} ms ({r['fx_over_bare']:.2f}x)"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
