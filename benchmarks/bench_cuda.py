"""The GPU rows: capture, scan and feature visualization on a CUDA device, against the bare model there.

    python benchmarks/bench_cuda.py [--quick] [--json OUT]

Without a CUDA device it writes one row saying so (``python -m benchmarks`` then shows the GPU rows as not
measured). With one, interleaved rounds, every time taken after ``torch.cuda.synchronize()``:

- ``capture``: ``ls.capture`` of every default layer of ResNet-50 (random init), batch 32 at 224, over a bare
  forward of the same batch (target <= 1.3: the copies of the captured outputs are device-to-device);
- ``scan``: ``ls.scan`` of every convolution of ResNet-18 over 512 inputs held on the GPU, batch 64, over
  plain batched inference of the same inputs (target >= 0.9 as plain / scan);
- ``visualize``: seconds per channel of ``ls.visualize`` (64 steps at 128 pixels; a figure, no target);
- the NCCL merge of a scan (``torchrun --nproc-per-node 2``) when there are two devices or more.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import layerscope as ls  # noqa: E402
from common import figure_row, interleave, ratio_row, write_rows  # noqa: E402

DIST = r'''
import os, sys, torch, layerscope as ls
rank = int(os.environ["LOCAL_RANK"])  # the scan joins the process group itself (NCCL on CUDA devices)
gen = torch.Generator().manual_seed(0)
data = torch.utils.data.TensorDataset(torch.randn(256, 3, 64, 64, generator=gen))
model = ls.load_model("torchvision:resnet18")
ls.scan(model, data, out=sys.argv[1], layers="type:Conv2d", k=9, batch_size=32, device=f"cuda:{rank}", progress=False)
'''


def synced(job):
    def run():
        job()
        torch.cuda.synchronize()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        write_rows(args.json, "cuda", [{"measure": "GPU rows: no CUDA device here, not measured", "value": None,
                                        "low": None, "high": None, "target": "", "met": None, "unit": "",
                                        "rounds": None, "detail": "run python -m benchmarks on a machine with one"}])
        print("no CUDA device: GPU rows not measured")
        return
    rounds = 3 if args.quick else args.rounds
    device = torch.device("cuda")
    rows = []
    torch.manual_seed(0)
    resnet50 = ls.load_model("torchvision:resnet50").module.to(device).eval()
    x = torch.randn(32, 3, 224, 224, device=device)
    layers = ls.run.Subject.of(resnet50).layers

    def bare():
        with torch.no_grad():
            resnet50(x)
    jobs = {"bare": synced(bare), "capture": synced(lambda: ls.capture(resnet50, x, layers))}
    for job in jobs.values():
        job()
    times = interleave(jobs, rounds)
    rows.append(ratio_row(f"capture / bare forward on CUDA, ResNet-50, {len(layers)} layers, batch 32",
                          times["capture"], times["bare"], target="<= 1.3", meets=lambda v: v <= 1.3))

    resnet18 = ls.load_model("torchvision:resnet18")
    module = resnet18.module.to(device).eval()
    inputs = torch.randn(512 if not args.quick else 256, 3, 224, 224, device=device)

    def plain():
        with torch.no_grad():
            for batch in inputs.split(64):
                module(batch)
    work = Path(tempfile.mkdtemp(prefix="bench-cuda-"))
    jobs = {"plain": synced(plain),
            "scan": synced(lambda: ls.scan(module, inputs, out=tempfile.mkdtemp(dir=work), layers="type:Conv2d", k=9,
                                           batch_size=64, device="cuda", progress=False))}
    for job in jobs.values():
        job()
    times = interleave(jobs, rounds)
    rows.append(ratio_row(f"plain inference / scan on CUDA, ResNet-18, {len(inputs)} inputs, every conv",
                          times["plain"], times["scan"], target=">= 0.9", meets=lambda v: v >= 0.9))

    start = time.perf_counter()  # the model's device is the optimization's
    ls.visualize(resnet18.module, "layer3.0.conv1", [0, 1], steps=64, size=128)
    torch.cuda.synchronize()
    rows.append(figure_row("visualize on CUDA, ResNet-18 layer3.0.conv1, seconds per channel (64 steps, 128 px)",
                           (time.perf_counter() - start) / 2, "s"))

    if torch.cuda.device_count() >= 2:
        script = work / "dist_scan.py"
        script.write_text(DIST)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", str(script),
                               str(work / "dist")], capture_output=True, text=True, env={**os.environ})
        rows.append(figure_row("scan on 2 GPUs with the NCCL merge (torchrun), 256 inputs, seconds",
                               time.perf_counter() - start if done.returncode == 0 else float("nan"), "s",
                               detail="ok" if done.returncode == 0 else done.stderr.strip()[-300:]))
    for row in rows:
        print(row["measure"], round(row["value"], 3))
    write_rows(args.json, "cuda", rows)


if __name__ == "__main__":
    main()
