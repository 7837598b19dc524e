"""Capture overhead: layerscope beside plain forward hooks, every conv layer, interleaved rounds.

    python benchmarks/bench_capture.py [--repeat 15] [--size 224] [--models resnet18,...] [--json OUT]

Per model (random init, eval, batch 1, 224x224) each round times, in a rotating order so
machine noise hits all alike:

- ``bare``: the forward alone (``no_grad``);
- ``keep``: plain forward hooks that keep each output (the floor any hook-based tool pays;
  outputs that a later in-place op overwrites come back wrong);
- ``clone``: plain hooks that clone every output (exact, the natural baseline);
- ``capture-first``: ``layerscope.capture`` on a model it has not seen (the copy plan is
  learned: predicted overwrites copied, every other output verified by its version counter);
- ``capture``: ``layerscope.capture`` again (the learned plan is reused);
- ``recorder``: one ``layerscope.Recorder`` entered once and called every round.

Ratios are medians over rounds of the ratio within each round (contenders timed back to back,
so slow drifts of a shared machine cancel); times are medians. Targets: recorder/keep <= 1.03
and capture-first/clone <= 1.0.
ViT-B/16 has one convolution (the patch embedding): its 12 encoder blocks are captured too.
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

import layerscope
from layerscope.capture import Recorder, select_layers
from layerscope.capture.api import capture
from layerscope.capture.plan import forget

MODELS = "resnet18,resnet50,vgg16,mobilenet_v3_large,efficientnet_b0,densenet121,vit_b_16"
COLUMNS = ("bare", "keep", "clone", "capture-first", "capture", "recorder")


def _layers(model: torch.nn.Module) -> list[str]:
    layers = select_layers(model)
    blocks = [name for name, _ in model.named_modules() if name.startswith("encoder.layers.encoder_layer_")
              and name.count(".") == 2]
    return layers + blocks


def _hooks(model, layers, clone: bool):
    store: dict = {}
    modules = dict(model.named_modules())

    def make(name):
        def hook(module, args, output):
            store[name] = output.clone() if clone else output

        return hook

    def run(x):
        handles = [modules[name].register_forward_hook(make(name)) for name in layers]
        try:
            with torch.no_grad():
                model(x)
        finally:
            for handle in handles:
                handle.remove()
        out = dict(store)
        store.clear()
        return out

    return run


def _contenders(model, layers, x, recorder):
    keep, clone = _hooks(model, layers, False), _hooks(model, layers, True)

    def bare():
        with torch.no_grad():
            model(x)

    def first():
        forget(model)
        capture(model, x, layers)

    return {
        "bare": bare,
        "keep": lambda: keep(x),
        "clone": lambda: clone(x),
        "capture-first": first,
        "capture": lambda: capture(model, x, layers),
        "recorder": lambda: recorder(x),
    }


def bench(name: str, size: int, repeat: int) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, size, size)
    layers = _layers(model)
    times: dict[str, list[float]] = {key: [] for key in COLUMNS}
    with Recorder(model, layers) as recorder:
        runs = _contenders(model, layers, x, recorder)
        for fn in runs.values():  # warm-up
            fn()
            fn()
        for round_ in range(repeat):
            keys = COLUMNS[round_ % len(COLUMNS):] + COLUMNS[: round_ % len(COLUMNS)]
            for key in keys:
                start = time.perf_counter()
                runs[key]()
                times[key].append(time.perf_counter() - start)
    med = {key: statistics.median(v) for key, v in times.items()}
    ratio = lambda a, b: statistics.median(x / y for x, y in zip(times[a], times[b]))  # noqa: E731
    ratios = {key: ratio(key, "bare") for key in COLUMNS}
    ratios["recorder/keep"], ratios["capture-first/clone"] = ratio("recorder", "keep"), ratio("capture-first", "clone")
    return {"model": name, "layers": len(layers), "median_s": med, "ratios": ratios,
            "protected": len(layerscope.capture(model, x, layers).protected)}


def _row(r: dict) -> str:
    m, ratio = r["median_s"], r["ratios"]
    return (
        f"| {r['model']} | {r['layers']} ({r['protected']} overwritten) | {m['bare'] * 1e3:.1f} ms | "
        + " | ".join(f"{ratio[k]:.3f}x" for k in COLUMNS[1:])
        + f" | {ratio['recorder/keep']:.3f} | {ratio['capture-first/clone']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    print(f"capture overhead ({machine}), medians of {args.repeat} interleaved rounds, x = time over a bare forward")
    print("| model | layers | bare | " + " | ".join(COLUMNS[1:]) + " | recorder/keep | capture-first/clone |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    results = []
    for name in args.models.split(","):
        results.append(bench(name, args.size, args.repeat))
        print(_row(results[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "repeat": args.repeat, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
