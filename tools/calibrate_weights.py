"""Calibrate "trained or not, from the weights": the three data-free signals on trained and untrained networks.

    python tools/calibrate_weights.py [--epochs 6] [--json out.json]

Offline, a few minutes on two CPU cores. The networks:

1. tuning set: ``builtin:digits`` and ``builtin:efficientnet_lite0`` (trained) and their untrained copies
   (the fixed-seed init); the checkpoints of the digits training example
   (``examples/train_digits_monitor.py``: the same recipe, the same seeds; here also after a few steps
   inside the first epoch), with their held-out accuracy; torchvision's resnet18, resnet50,
   mobilenet_v3_small, vgg11_bn, efficientnet_b0 and convnext_tiny at random init.
2. held out (not used to choose the cut points): ``builtin:efficientnet_lite1`` and ``_lite2``, trained
   and untrained.

Printed per network: the share of BatchNorm layers still at their initial statistics, the share of weight
matrices beyond the Marchenko-Pastur edge (and the median top-eigenvalue / edge ratio), the first-layer
neighbour correlation, the label and the seconds :func:`~layerscope.diagnosis.weights.weight_evidence` took.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from layerscope.diagnosis import Thresholds
from layerscope.diagnosis.weights import weight_evidence
from layerscope.zoo import build_builtin, digits
from layerscope.zoo import train as recipe

RANDOM = ("resnet18", "resnet50", "mobilenet_v3_small", "vgg11_bn", "efficientnet_b0", "convnext_tiny")
HELD_OUT = ("efficientnet_lite1", "efficientnet_lite2")
STEPS = (1, 2, 5, 10)  # checkpoints inside the first epoch, besides every epoch's end


def digits_checkpoints(epochs: int) -> list[tuple[str, torch.nn.Module, float]]:
    """The training example's loop (``examples/train_digits_monitor.py``, without the monitor): ``(name, model,
    held-out accuracy)`` at the init, after a few steps and after every epoch."""
    train_x, train_y, held_x, held_y, _ = digits.load_split()
    held = digits.to_tensor(held_x)
    model = digits.untrained()
    decayed = {id(p) for name, p in model.named_parameters() if name.startswith("conv") and name.endswith("weight")}
    groups = [{"params": [p for p in model.parameters() if id(p) in decayed], "weight_decay": recipe.CONV_DECAY},
              {"params": [p for p in model.parameters() if id(p) not in decayed], "weight_decay": recipe.OTHER_DECAY}]
    optimizer = torch.optim.AdamW(groups, lr=recipe.LR)
    per_epoch = math.ceil(len(train_y) / recipe.BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.LR, total_steps=epochs * per_epoch)
    pixels, targets = torch.from_numpy(train_x / np.float32(255)).unsqueeze(1), torch.from_numpy(train_y)
    gen = torch.Generator().manual_seed(recipe.TRAIN_SEED)
    saved: list[tuple[str, torch.nn.Module, float]] = []

    def keep(name: str) -> None:
        copied = copy.deepcopy(model).eval()
        with torch.no_grad():
            accuracy = float((copied(held).argmax(1).numpy() == held_y).mean())
        saved.append((name, copied, accuracy))

    keep("digits step 0 (init)")
    step = 0
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(targets), generator=gen).split(recipe.BATCH):
            x = (recipe.augment(pixels[batch], gen) - digits.MEAN[0]) / digits.STD[0]
            loss = F.cross_entropy(model(x), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step in STEPS:
                keep(f"digits step {step}")
        keep(f"digits epoch {epoch + 1}")
    return saved


def networks(epochs: int) -> list[tuple[str, str, Any, Any]]:
    """``(group, name, build, accuracy)``: build() makes the model (lazily: a few are large)."""
    import torchvision

    rows: list[tuple[str, str, Any, Any]] = [
        ("tune", "builtin:digits", lambda: build_builtin("digits"), None),
        ("tune", "builtin:digits:untrained", lambda: build_builtin("digits", trained=False), None),
        ("tune", "builtin:efficientnet_lite0", lambda: build_builtin("efficientnet_lite0"), None),
        ("tune", "builtin:efficientnet_lite0:untrained", lambda: build_builtin("efficientnet_lite0", trained=False),
         None),
    ]
    rows += [("tune", name, (lambda m=model: m), accuracy) for name, model, accuracy in digits_checkpoints(epochs)]
    for name in RANDOM:
        rows.append(("tune", f"torchvision:{name} (random init)",
                     lambda name=name: getattr(torchvision.models, name)(weights=None), None))
    for name in HELD_OUT:
        rows.append(("held out", f"builtin:{name}", lambda name=name: build_builtin(name), None))
        rows.append(("held out", f"builtin:{name}:untrained", lambda name=name: build_builtin(name, trained=False), None))
    return rows


def measure(epochs: int) -> list[dict[str, Any]]:
    t = Thresholds()
    results = []
    for group, name, build, accuracy in networks(epochs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build()
        start = time.perf_counter()
        evidence = weight_evidence(model, t)
        seconds = time.perf_counter() - start
        ratios = [s.ratio for s in evidence.spectra]
        results.append({
            "group": group, "model": name, "accuracy": accuracy,
            "bn_at_init": f"{evidence.batchnorm_at_init}/{evidence.batchnorm}" if evidence.batchnorm else "-",
            "heavy": f"{evidence.heavy}/{len(evidence.spectra)}", "heavy_share": evidence.score,
            "median_ratio": statistics.median(ratios) if ratios else None,
            "first_layer": evidence.first_layer, "smoothness": evidence.smoothness, "label": evidence.label,
            "seconds": seconds,
        })
        print(_row(results[-1]), flush=True)
    return results


HEADER = ("| group | model | held-out accuracy | BN at init | heavy-tailed (share) | median top/edge | "
          "first-layer smoothness | label | seconds |\n|---|---|---|---|---|---|---|---|---|")


def _row(r: dict[str, Any]) -> str:
    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    return (f"| {r['group']} | {r['model']} | {num(r['accuracy'], '.3f')} | {r['bn_at_init']} | {r['heavy']} "
            f"({num(r['heavy_share'], '.2f')}) | {num(r['median_ratio'], '.2f')} | {num(r['smoothness'], '.2f')} | "
            f"**{r['label']}** | {r['seconds']:.2f} |")


def timing(repeats: int = 3) -> list[str]:
    """The fastest of ``repeats`` runs of weight_evidence on Lite0 and ResNet-50, with torch's threads and with one."""
    import torchvision

    lines = []
    for name, model in (("builtin:efficientnet_lite0", build_builtin("efficientnet_lite0")),
                        ("torchvision:resnet50", torchvision.models.resnet50(weights=None))):
        for threads in (torch.get_num_threads(), 1):
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                best = min(_timed(model) for _ in range(repeats))
            finally:
                torch.set_num_threads(before)
            lines.append(f"{name}: {best:.3f} s with {threads} thread{'s' if threads > 1 else ''}")
    return lines


def _timed(model: torch.nn.Module) -> float:
    start = time.perf_counter()
    weight_evidence(model)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the digits training (default 6, as the example)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    print(HEADER)
    rows = measure(args.epochs)
    print()
    for line in timing():
        print(line)
    t = Thresholds()
    print(f"\ncut points: a layer is heavy-tailed from {t.weights_heavy_ratio:g}x the edge; trained from "
          f"{t.weights_heavy_trained:.0%} heavy-tailed, untrained at most {t.weights_heavy_untrained:.0%}; first layer "
          f"smooth from {t.weights_smooth_trained:g}, noise at most {t.weights_smooth_untrained:g}; BatchNorm at init "
          f"from {t.weights_bn_at_init:.0%} of the layers")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
