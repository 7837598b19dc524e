"""Training-time logging overhead: what a :class:`~layerscope.train.Monitor` at ``every=100`` adds to training.

    python benchmarks/bench_monitor.py [--quick] [--rounds 40] [--steps 5] [--models digits,resnet18]
                                       [--sinks folder,tensorboard] [--threads 1] [--json OUT]

**What is timed.** Per model, one process, one model, one fixed batch: blocks of ``--steps`` training
steps (forward, loss, backward, SGD step), interleaved in a shuffled order (``common.interleave``):

- ``plain``: the block alone;
- ``folder`` / ``tensorboard``: the same block calling ``monitor.step(n)`` after each step, with the
  step numbers of a real run at ``every=100``: the block's first step is a multiple of 100, so it
  logs (grids of a 4-image probe batch, histograms and the diagnosis of every monitored layer) and
  the others only count. Steps after the log are in the block, so what a log leaves behind (caches,
  freed memory) is timed too.

**The ratio.** A monitored block holds one log, as 100 steps of a real run do, but only ``--steps``
steps, so that many short blocks fit in a run and the machine's drifts hit both sides alike. Per
round, with ``p`` the plain block and ``m`` the monitored one: ``extra = m - p`` (one log and the
counting) and ``plain100 = p * 100 / steps``; the round's ratio is ``(plain100 + extra) / plain100``,
the time of 100 monitored steps over 100 plain ones (with ``--steps 100`` it is ``m / p`` itself).
The row is the median over rounds with a 95% bootstrap interval. The noise of the difference of two
blocks enters divided by 100 steps' time, and short blocks have the least of it: with 5-step blocks
a few rounds give an interval far narrower than the 5% target.

Models (random init, train mode): ``digits``, the tutorial's SimpleCNN (batch 64 of 28x28) with
conv1 and conv2 monitored; ``resnet18`` (10 classes, batch 32 of 32x32, CIFAR-sized) with all 20
convolutions monitored. ``--threads 1`` (default): on a shared 2-core machine two threads per process
are far noisier (and on a busy one several times slower) than one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import interleave, ratio_row, write_rows  # noqa: E402

import layerscope  # noqa: E402
from layerscope.train import FolderSink, Monitor, TensorBoardSink  # noqa: E402
from layerscope.zoo.digits import untrained  # noqa: E402

SUITE = "monitor"
EVERY = 100
TARGET = 1.05
LABELS = {"digits": "digits (SimpleCNN, batch 64 of 28x28, 2 convs)",
          "resnet18": "ResNet-18 CIFAR-size (batch 32 of 32x32, 20 convs)"}


def _setup(name: str):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if name == "digits":
        model, x = untrained(), torch.randn(64, 1, 28, 28, generator=g)
    elif name == "resnet18":
        model, x = torchvision.models.resnet18(weights=None, num_classes=10), torch.randn(32, 3, 32, 32, generator=g)
    else:
        raise SystemExit(f"unknown model {name!r}; use digits or resnet18")
    y = torch.randint(0, 10, (x.shape[0],), generator=g)
    return model.train(), x, y


class Trainer:
    """Training steps on one model and batch; ``block(monitor)`` runs ``steps`` of them, one log when monitored."""

    def __init__(self, model, x, y, steps: int) -> None:
        self.model, self.x, self.y, self.steps = model, x, y, steps
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        self.blocks = 0

    def block(self, monitor=None) -> None:
        first = self.blocks * EVERY
        self.blocks += 1
        for i in range(self.steps):
            loss = F.cross_entropy(self.model(self.x), self.y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if monitor is not None:
                monitor.step(first + i)  # first: a multiple of EVERY, so it logs; the rest only count


def bench(name: str, rounds: int, steps: int, sinks: list[str], folder: Path) -> tuple[list[dict], dict]:
    model, x, y = _setup(name)
    trainer = Trainer(model, x, y, steps)
    made = {"folder": lambda: FolderSink(folder / name / "run", overwrite=True),
            "tensorboard": lambda: TensorBoardSink(folder / name / "tb")}
    monitors = {sink: Monitor(model, "type:Conv2d", every=EVERY, inputs=x[:4].clone(), sink=made[sink]())
                for sink in sinks}
    trainer.block()  # warm-up: the allocator, the first log's imports
    for monitor in monitors.values():
        monitor.log(0)
    contenders = {"plain": trainer.block, **{s: (lambda m=m: trainer.block(m)) for s, m in monitors.items()}}
    times = interleave(contenders, rounds)
    for monitor in monitors.values():
        monitor.close()
    layers = len(next(iter(monitors.values())).names)
    plain = times["plain"]
    rows, facts = [], {"model": name, "layers": layers, "steps": steps, "rounds": rounds,
                       "plain_ms_per_step": 1000 * statistics.median(plain) / steps}
    for sink in sinks:
        extra = [m - p for m, p in zip(times[sink], plain)]
        plain100 = [p * EVERY / steps for p in plain]
        per_log = statistics.median(extra)
        facts[f"{sink}_ms_per_log"] = 1000 * per_log
        rows.append(ratio_row(
            f"Monitor every={EVERY} ({sink} sink) / plain training: {LABELS[name]}",
            [q + e for q, e in zip(plain100, extra)], plain100, target=f"<= {TARGET}", meets=lambda v: v <= TARGET,
            detail=f"{1000 * statistics.median(plain) / steps:.1f} ms/step, one log {1000 * per_log:.0f} ms "
                   f"(+ {steps - 1} counted steps), {layers} layers, blocks of {steps} steps, {rounds} rounds, "
                   f"{torch.get_num_threads()} thread(s)"))
    return rows, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about 2 min on 2 cores): fewer rounds "
                        "and steps, the folder sink only")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 40; --quick: 16 for "
                        "digits, 6 for ResNet-18)")
    parser.add_argument("--steps", type=int, default=None, help="training steps per block (default 5; --quick: 5 "
                        "for digits, 4 for ResNet-18)")
    parser.add_argument("--models", default="digits,resnet18")
    parser.add_argument("--sinks", default=None, help="folder,tensorboard (default; --quick: folder)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0: torch's choice)")
    parser.add_argument("--json", default=None, metavar="OUT")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sinks = (args.sinks or ("folder" if args.quick else "folder,tensorboard")).split(",")
    load_before = os.getloadavg()
    print(f"layerscope {layerscope.__version__}, torch {torch.__version__}, {platform.machine()}, "
          f"{torch.get_num_threads()} thread(s), load {load_before[0]:.1f}; every={EVERY}")
    print("| model | monitored / plain (95% interval) | ms per step | ms per log |")
    print("|---|---|---|---|")
    rows, facts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            quick_rounds, quick_steps = (16, 5) if name == "digits" else (6, 4)
            rounds = args.rounds or (quick_rounds if args.quick else 40)
            steps = args.steps or (quick_steps if args.quick else 5)
            got, fact = bench(name, rounds, steps, sinks, Path(tmp))
            rows += got
            facts.append(fact)
            for sink, row in zip(sinks, got):
                print(f"| {name} ({sink}) | {row['value']:.4f}x ({row['low']:.4f}-{row['high']:.4f}) | "
                      f"{fact['plain_ms_per_step']:.1f} | {fact[f'{sink}_ms_per_log']:.0f} |", flush=True)
    load_after = os.getloadavg()
    verdict = all(r["met"] for r in rows) and all(r["high"] <= TARGET for r in rows)
    print(f"verdict: {'meets' if verdict else 'misses'} <= {TARGET} (the whole interval) ; load {load_after[0]:.1f}")
    write_rows(args.json, SUITE, rows, models=facts, load_before=load_before, load_after=load_after,
               threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
