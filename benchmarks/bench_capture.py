"""Capture overhead: layerscope beside plain forward hooks, every conv layer, interleaved rounds.

    python benchmarks/bench_capture.py [--seconds 90 | --repeat 15] [--size 224] [--models resnet18,...] [--json OUT]

Per model (random init, eval, batch 1, 224x224) each round times, in a shuffled order so
machine noise, and what one contender leaves behind for the next, hit all alike:

- ``bare``: the forward alone (``no_grad``);
- ``keep``: plain forward hooks that keep each output (the floor any hook-based tool pays;
  outputs that a later in-place op overwrites come back wrong);
- ``clone``: plain hooks that clone every output (exact, the natural baseline);
- ``capture-first``: ``layerscope.capture`` on a model it has not seen (``forget(model)``
  first: the model is walked, its buffers copied and the copy plan learned);
- ``capture``: ``layerscope.capture`` again, the way a notebook or a server calls it (the walk
  is checked by its fingerprint, the buffer copies and the plan are reused);
- ``recorder``: one ``layerscope.Recorder`` entered once and called every round.

Both plain-hook baselines find their layers the way the tutorials do, with a
``named_modules()`` walk on every call; ``--prewalked`` finds them once, outside the timing.

Ratios are medians over rounds of the ratio within each round (contenders timed back to back,
so slow drifts of a shared machine cancel); times are medians. A single forward on these
2-core machines varies by about 12% from call to call, so each target ratio comes with a 95%
bootstrap interval of that median; ``--seconds`` gives every model the same time, which
means many rounds (narrow intervals) for the fast models whose fixed costs matter most. Targets: recorder/keep <= 1.03
and capture/clone <= 1.0 (capture-first/clone is printed too: the one-time cost of a new model).
ViT-B/16 has one convolution (the patch embedding): its 12 encoder blocks are captured too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time

import torch
import torchvision

import layerscope
from layerscope.capturing import Recorder, select_layers
from layerscope.capturing.select import default_layers
from layerscope.run.once import capture
from layerscope.capturing.plan import forget

MODELS = "resnet18,resnet50,vgg16,mobilenet_v3_large,efficientnet_b0,densenet121,vit_b_16"
COLUMNS = ("bare", "keep", "clone", "capture-first", "capture", "recorder")
TARGETS = (("recorder", "keep"), ("capture", "clone"), ("capture-first", "clone"))


def _layers(model: torch.nn.Module) -> list[str]:
    layers = select_layers(model, "type:Conv2d" if default_layers(model) is None else None)  # every conv
    blocks = [name for name, _ in model.named_modules() if name.startswith("encoder.layers.encoder_layer_")
              and name.count(".") == 2]
    return layers + blocks


def _hooks(model, layers, clone: bool, prewalked: bool):
    """Plain forward hooks, as the tutorials write them: find the layers by a walk, hook, run, unhook.

    ``prewalked``: the modules are found once, before the timing (a floor no one-shot call can have).
    """
    store: dict = {}
    wanted = set(layers)
    found = [(name, module) for name, module in model.named_modules() if name in wanted]

    def make(name):
        def hook(module, args, output):
            store[name] = output.clone() if clone else output

        return hook

    def run(x):
        modules = found if prewalked else [(n, m) for n, m in model.named_modules() if n in wanted]
        handles = [module.register_forward_hook(make(name)) for name, module in modules]
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


def _contenders(models, layers, x, recorder, prewalked):
    keep, clone = _hooks(models["keep"], layers, False, prewalked), _hooks(models["clone"], layers, True, prewalked)

    def bare():
        with torch.no_grad():
            models["bare"](x)

    def first():
        forget(models["capture-first"])
        capture(models["capture-first"], x, layers)

    return {
        "bare": bare,
        "keep": lambda: keep(x),
        "clone": lambda: clone(x),
        "capture-first": first,
        "capture": lambda: capture(models["capture"], x, layers),
        "recorder": lambda: recorder(x),
    }


def bench(name: str, size: int, rounds: int, seconds: float = 0.0, prewalked: bool = False) -> dict:
    """Time every contender on one model: ``rounds`` rounds, or as many as ``seconds`` allow (at least 10)."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, size, size)
    layers = _layers(model)
    # one model for all: copies of it run at different speeds (where their weights lie in memory), which
    # would not average out over rounds; the reused Recorder's idle hooks return at once on the others' runs
    models = dict.fromkeys(COLUMNS, model)
    with Recorder(model, layers) as recorder:
        runs = _contenders(models, layers, x, recorder, prewalked)
        for fn in runs.values():  # warm-up
            fn()
            fn()
        if seconds:
            start = time.perf_counter()
            runs["bare"]()
            rounds = max(10, int(seconds / (len(COLUMNS) * 1.15 * (time.perf_counter() - start))))
        times = _rounds(runs, rounds)
    ratios = {key: _ratio(times, key, "bare") for key in COLUMNS}
    spread = {}
    for a, b in TARGETS:
        ratios[f"{a}/{b}"] = _ratio(times, a, b)
        spread[f"{a}/{b}"] = _interval(times, a, b)
    return {"model": name, "layers": len(layers), "rounds": rounds, "ratios": ratios, "interval95": spread,
            "median_s": {key: statistics.median(v) for key, v in times.items()}, "times_s": times,
            "protected": len(layerscope.capture(model, x, layers).protected)}


def _rounds(runs: dict, rounds: int) -> dict[str, list[float]]:
    """Every contender once a round, in a shuffled order: each follows each other as often (what the one before
    left behind, freed memory above all, changes the next one's time; a rotation keeps who follows whom)."""
    times: dict[str, list[float]] = {key: [] for key in COLUMNS}
    shuffle = random.Random(0)
    for _ in range(rounds):
        for key in shuffle.sample(COLUMNS, len(COLUMNS)):
            start = time.perf_counter()
            runs[key]()
            times[key].append(time.perf_counter() - start)
    return times


def _ratio(times: dict, a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def _interval(times: dict, a: str, b: str, resamples: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median per-round ratio (what the machine's noise leaves uncertain)."""
    ratios = [x / y for x, y in zip(times[a], times[b])]
    draw = random.Random(0)
    medians = sorted(statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def _row(r: dict) -> str:
    m, ratio = r["median_s"], r["ratios"]
    targets = " | ".join(f"{ratio[k]:.3f} ({lo:.2f}-{hi:.2f})" for k, (lo, hi) in r["interval95"].items())
    return (
        f"| {r['model']} | {r['layers']} ({r['protected']}) | {r['rounds']} | {m['bare'] * 1e3:.1f} ms | "
        + " | ".join(f"{ratio[k]:.3f}x" for k in COLUMNS[1:])
        + f" | {targets} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=15, help="rounds per model (unless --seconds)")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="time per model instead: as many rounds as fit (fast models get more rounds)")
    parser.add_argument("--json", help="also write the results (with every time) to this JSON file")
    parser.add_argument("--prewalked", action="store_true",
                        help="plain hooks find their modules once, outside the timing (not per call as tutorials do)")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads"
    rounds = f"about {args.seconds:g} s of interleaved rounds per model" if args.seconds else f"{args.repeat} rounds"
    print(f"capture overhead ({machine}), {rounds}, x = time over a bare forward; the last columns are the "
          "target ratios with a 95% bootstrap interval")
    print("| model | layers (overwritten) | rounds | bare | " + " | ".join(COLUMNS[1:]) + " | "
          + " | ".join(f"{a}/{b}" for a, b in TARGETS) + " |")
    print("|---" * (len(COLUMNS) + 3 + len(TARGETS)) + "|")
    results = []
    for name in args.models.split(","):
        results.append(bench(name, args.size, args.repeat, args.seconds, args.prewalked))
        print(_row(results[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
