"""Feature visualization: seconds per channel with the CLI defaults, beside a plain pixel-space optimization loop.

    python benchmarks/bench_visualize.py [--rounds 1] [--channels 8] [--json OUT]

For each (model, layer): ``layerscope.visualize(model, layer, channels=range(8))`` with the defaults of
``layerscope visualize`` (128 steps on CPU, the default resolution, transforms on, seed 0), and the natural
baseline: the same number of Adam steps on a plain ``(n, 3, R, R)`` pixel tensor at the same resolution R,
upsampled to the model's input size, with the forward stopped after the layer (no Fourier parameterization,
no transforms). Rounds alternate the two; the figures are medians. Seconds per channel = the call's time /
channels (the channels are optimized together, as one batch). Models: torchvision ResNet-18 (random init: the
time does not depend on the weights) and the pretrained builtin:efficientnet_lite0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import layerscope as ls
from layerscope.capturing import ModelState

CASES = [("torchvision:resnet18", "layer3.0.conv1"), ("builtin:efficientnet_lite0", "blocks.3")]  # mid-depth layers


class _Stop(Exception):
    pass


def plain_loop(loaded, layer: str, channels: int, steps: int, resolution: int) -> float:
    """Seconds for ``steps`` Adam steps on raw pixels maximizing the channels' means (the baseline)."""
    module, size = loaded.module, loaded.preprocessing.crop
    pixels = torch.zeros(channels, 3, resolution, resolution, requires_grad=True)
    optimizer = torch.optim.Adam([pixels], lr=0.05)
    kept = {}

    def stop(mod, args, output):
        kept["out"] = output
        raise _Stop

    start = time.perf_counter()
    with ModelState(module) as state:
        state.hook(module.get_submodule(layer), stop)
        with torch.enable_grad():
            for _ in range(steps):
                x = F.interpolate(torch.sigmoid(pixels), size=tuple(size), mode="bilinear", align_corners=False)
                with state.forward():
                    try:
                        module(x)
                    except _Stop:
                        pass
                out = kept.pop("out")
                loss = -out[torch.arange(channels), torch.arange(channels)].mean()
                (pixels.grad,) = torch.autograd.grad(loss, [pixels])  # the model's parameters get no gradient
                optimizer.step()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--channels", type=int, default=8, help="channels per call (the CLI default is 0-7)")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for spec, layer in CASES:
        loaded = ls.load_model(spec)
        ours, plain = [], []
        for round_ in range(args.rounds):
            order = ("ours", "plain") if round_ % 2 == 0 else ("plain", "ours")
            for which in order:
                if which == "ours":
                    result = ls.visualize(loaded, layer, list(range(args.channels)), seed=0)
                    ours.append(result.seconds)
                    steps = result.curves.shape[0]
                else:
                    plain.append(plain_loop(loaded, layer, args.channels, steps, min(128, loaded.preprocessing.crop[0])))
        med, base = statistics.median(ours), statistics.median(plain)
        rows.append({"model": spec, "layer": layer, "channels": args.channels, "steps": steps,
                     "seconds": round(med, 2), "seconds_per_channel": round(med / args.channels, 2),
                     "plain_seconds": round(base, 2), "ratio_to_plain": round(med / base, 2)})
        print(f"{spec:28s} {layer:16s} {med:7.1f} s for {args.channels} channels = {med / args.channels:5.2f} s/channel"
              f"  (plain pixel loop {base:6.1f} s, x{med / base:.2f})", flush=True)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "python": sys.version.split()[0], "rounds": args.rounds}
    print(json.dumps(info))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
