"""Training-time logging overhead: training steps with a Monitor at every=100 against the same steps without.

    python benchmarks/bench_monitor.py [--rounds 5] [--steps 100] [--models digits,resnet18] [--threads N] [--json OUT]

Per model each round times ``--steps`` training steps (forward, loss, backward, SGD step, on a
fixed random batch) three ways, in a rotating order so machine noise hits all alike:

- ``plain``: the training loop alone;
- ``folder``: the same loop calling ``monitor.step()`` after each step, a
  :class:`~layerscope.train.Monitor` with ``every=100`` writing to a ``FolderSink``;
- ``tensorboard``: the same with a ``TensorBoardSink``.

With ``--steps 100`` every timed block holds exactly one log (grids of a 4-image probe batch,
histograms and the diagnosis of every monitored layer: every convolution). Ratios are medians
over rounds of the ratio within a round; times are medians. Models (random init, train mode):
``digits``, the tutorial's SimpleCNN (batch 64 of 28x28) with conv1 and conv2 monitored;
``resnet18`` (10 classes, batch 32 of 32x32, CIFAR-sized) with all 20 convolutions monitored.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

import layerscope
from layerscope.train import FolderSink, Monitor, TensorBoardSink
from layerscope.zoo.digits import untrained

CONTENDERS = ("plain", "folder", "tensorboard")


def _setup(name: str):
    g = torch.Generator().manual_seed(0)
    if name == "digits":
        model, x = untrained(), torch.randn(64, 1, 28, 28, generator=g)
    elif name == "resnet18":
        torch.manual_seed(0)
        model, x = torchvision.models.resnet18(weights=None, num_classes=10), torch.randn(32, 3, 32, 32, generator=g)
    else:
        raise SystemExit(f"unknown model {name!r}; use digits or resnet18")
    y = torch.randint(0, 10, (x.shape[0],), generator=g)
    return model.train(), x, y


def _loop(model, x, y, steps: int, monitor=None) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    start = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if monitor is not None:
            monitor.step()
    return time.perf_counter() - start


def bench(name: str, rounds: int, steps: int, folder: Path) -> dict:
    model, x, y = _setup(name)
    probe = x[:4].clone()
    monitors = {
        "folder": Monitor(model, "type:Conv2d", every=100, inputs=probe,
                          sink=FolderSink(folder / name / "run", overwrite=True)),
        "tensorboard": Monitor(model, "type:Conv2d", every=100, inputs=probe,
                               sink=TensorBoardSink(folder / name / "tb")),
    }
    _loop(model, x, y, 3)  # warm-up
    times: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    for r in range(rounds):
        order = CONTENDERS[r % 3:] + CONTENDERS[: r % 3]
        for contender in order:
            times[contender].append(_loop(model, x, y, steps, monitors.get(contender)))
    for monitor in monitors.values():
        monitor.close()
    ratios = {c: statistics.median(t / p for t, p in zip(times[c], times["plain"])) for c in CONTENDERS[1:]}
    medians = {c: statistics.median(times[c]) for c in CONTENDERS}
    logs = {c: len(m.history) for c, m in monitors.items()}
    return {"model": name, "layers": len(monitors["folder"].names), "steps": steps, "rounds": rounds,
            "seconds": medians, "ratio": ratios, "logs": logs,
            "per_log_ms": {c: 1000 * (medians[c] - medians["plain"]) * 100 / steps for c in CONTENDERS[1:]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--models", default="digits,resnet18")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"layerscope {layerscope.__version__}, torch {torch.__version__}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads; {args.steps} steps per block, every=100, median of {args.rounds} rounds")
    print("| model (monitored layers) | plain | with monitor: folder | with monitor: TensorBoard | cost of one log |")
    print("|---|---|---|---|---|")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            r = bench(name, args.rounds, args.steps, Path(tmp))
            results.append(r)
            s, q, c = r["seconds"], r["ratio"], r["per_log_ms"]
            print(f"| {name} ({r['layers']}) | {1000 * s['plain'] / args.steps:.1f} ms/step | {q['folder']:.3f}x | "
                  f"{q['tensorboard']:.3f}x | {c['folder']:.0f} ms (folder), {c['tensorboard']:.0f} ms (TensorBoard) |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
