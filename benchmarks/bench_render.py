"""Rendering speed: layerscope's atlas (every channel of every conv, as PNG files) vs a bare forward and
vs the seed-001 recipe (a matplotlib subplot per channel), measured side by side in one run.

    python benchmarks/bench_render.py [--repeat 7] [--seed-full] [--json OUT] [--quick]

(a) a bare VGG16 forward (224x224, batch 1, random init, eval, no_grad);
(b) layerscope.show(model, x, out=DIR, max_channels=0): capture of the 13 conv layers, per-channel
    normalization, tiling, palette PNG files (4,224 maps) and index.json;
(c) the seed-001 recipe for the same maps: per layer a pyplot figure with one subplot per channel
    (4 columns, per-channel min-max, viridis, a title per channel), tight_layout and savefig.
(a) and (b) are interleaved ``--repeat`` times (medians). (c) runs once: by default on one layer of
each distinct shape, weighted by the number of VGG16 conv layers of that shape (same shape, same
work); ``--seed-full`` runs all 13 layers (~80 s or more). Then atlas timings for ResNet-50 (every
conv) and ViT-B/16 (the 12 encoder blocks, tokens as 14x14 maps), random init.
Targets: b/a <= 1.5 and c/b >= 300.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import Counter

import torch
import torchvision

from layerscope.capturing import Recorder
from layerscope.showing.api import show

VGG_SHAPE_LAYERS = ["features.0", "features.5", "features.10", "features.17", "features.24"]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None).eval()


def _atlas_runner(model, x, layers, root):
    """show() into a fresh folder each round; the previous round's folder is removed before timing."""
    counter = iter(range(10**9))
    last = []

    def prepare():
        while last:
            shutil.rmtree(last.pop(), ignore_errors=True)
        last.append(os.path.join(root, f"run{next(counter)}"))

    def run():
        return show(model, x, layers, last[0], max_channels=0)

    return prepare, run


def bench_pair(name: str, layers, repeat: int, root: str) -> dict:
    """Bare forward vs capture + atlas, interleaved; medians in seconds."""
    model = _model(name)
    x = torch.randn(1, 3, 224, 224)

    def bare():
        with torch.no_grad():
            model(x)

    prepare, atlas = _atlas_runner(model, x, layers, root)
    prepare()
    first = atlas()  # warm-up (also gives the counts)
    bare()
    times = {"bare": [], "atlas": []}
    for _ in range(repeat):
        times["bare"].append(_timed(bare))
        prepare()
        times["atlas"].append(_timed(atlas))
    prepare()
    maps = sum(len(g["channels"]) for g in first.inputs[0]["grids"].values())
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"model": name, "layers": len(first.layers), "maps": maps, "bare_s": med["bare"], "atlas_s": med["atlas"],
            "ratio": med["atlas"] / med["bare"], "bare_min_s": min(times["bare"]), "atlas_min_s": min(times["atlas"]),
            "runs": times}


def _seed_layer(fmap: torch.Tensor, layer_name: str, path: str) -> None:
    """The seed-001 plot_feature_grid for every channel, saved instead of shown."""
    import math

    import matplotlib.pyplot as plt

    n = fmap.shape[0]
    cols = 4
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.6 * rows))
    axes = axes.flatten()
    for i in range(n):
        channel = fmap[i]
        channel = (channel - channel.min()) / (channel.max() - channel.min() + 1e-8)
        axes[i].imshow(channel, cmap="viridis")
        axes[i].set_title(f"{layer_name} · ch {i}", fontsize=9)
        axes[i].axis("off")
    for j in range(n, len(axes)):
        axes[j].axis("off")
    fig.suptitle(f"Feature maps from {layer_name}", fontsize=14)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def bench_seed(full: bool, quick: bool, root: str) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    model = _model("vgg16")
    names = [f"features.{i}" for i, m in enumerate(model.features) if isinstance(m, torch.nn.Conv2d)]
    with Recorder(model, names) as rec:
        acts = rec(torch.randn(1, 3, 224, 224)).cpu()
    shapes = Counter(tuple(acts[n].shape) for n in names)
    if full:
        timed, weights, how = names, {n: 1 for n in names}, "measured: all 13 layers"
    elif quick:
        timed = ["features.24"]
        weights = {"features.24": sum(s[1] for s in shapes.elements()) / acts["features.24"].shape[1]}
        how = "rough estimate: features.24 (512 maps of 14x14) scaled by channel count (--quick)"
    else:
        timed = VGG_SHAPE_LAYERS
        weights = {n: shapes[tuple(acts[n].shape)] for n in timed}
        how = "estimate: one layer per distinct shape, weighted by the number of layers of that shape"
    per_layer = {}
    for n in timed:
        per_layer[n] = _timed(lambda: _seed_layer(acts[n][0], n, os.path.join(root, f"seed_{n}.png")))
    total = sum(per_layer[n] * weights[n] for n in timed)
    return {"seed_s": total, "how": how, "per_layer_s": per_layer, "weights": weights}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed-full", action="store_true", help="run the matplotlib recipe on all 13 layers")
    parser.add_argument("--quick", action="store_true", help="fast sanity run: 2 rounds, rough seed estimate")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON here")
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat
    root = tempfile.mkdtemp(prefix="layerscope-bench-")
    load_before = os.getloadavg()
    try:
        vgg = bench_pair("vgg16", "type:Conv2d", repeat, root)
        seed = bench_seed(args.seed_full, args.quick, root)
        others = [] if args.quick else [
            bench_pair("resnet50", "type:Conv2d", repeat, root),
            bench_pair("vit_b_16", r"re:encoder\.layers\.encoder_layer_\d+$", repeat, root),
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "load_before": load_before, "load_after": os.getloadavg()},
        "repeat": repeat,
        "vgg16": vgg,
        "seed001": seed,
        "ratios": {"b_over_a": vgg["ratio"], "c_over_b": seed["seed_s"] / vgg["atlas_s"],
                   "b_over_a_fastest": vgg["atlas_min_s"] / vgg["bare_min_s"],
                   "c_over_b_fastest": seed["seed_s"] / vgg["atlas_min_s"]},
        "others": others,
    }
    m = results["machine"]
    print(f"machine: {m['processor']}, {m['cpus']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
          f"load {load_before[0]:.1f} -> {m['load_after'][0]:.1f}; medians of {repeat} rounds")
    print(f"(a) VGG16 bare forward 224x224:                 {vgg['bare_s'] * 1e3:8.1f} ms")
    print(f"(b) capture + atlas, {vgg['layers']} convs, {vgg['maps']} maps as PNG: {vgg['atlas_s'] * 1e3:8.1f} ms")
    print(f"(c) seed-001 matplotlib recipe, same maps:     {seed['seed_s'] * 1e3:8.1f} ms  [{seed['how']}]")
    print(f"b/a = {results['ratios']['b_over_a']:.2f} (target <= 1.5)   "
          f"c/b = {results['ratios']['c_over_b']:.0f} (target >= 300)")
    print(f"fastest rounds (least disturbed by other load): a {vgg['bare_min_s'] * 1e3:.1f} ms, "
          f"b {vgg['atlas_min_s'] * 1e3:.1f} ms, b/a = {results['ratios']['b_over_a_fastest']:.2f}, "
          f"c/b = {results['ratios']['c_over_b_fastest']:.0f}")
    for row in others:
        print(f"{row['model']}: bare {row['bare_s'] * 1e3:.1f} ms, capture + atlas of {row['layers']} layers "
              f"({row['maps']} maps) {row['atlas_s'] * 1e3:.1f} ms, ratio {row['ratio']:.2f} "
              f"(fastest rounds {row['bare_min_s'] * 1e3:.1f} / {row['atlas_min_s'] * 1e3:.1f} ms)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()
