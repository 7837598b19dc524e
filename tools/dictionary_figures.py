"""The dictionary's figures for the README and the issue: training time and quality (explained variance on held-out
rows, mean L0, dead latents) on the planted model and on builtin:digits layer activations.

    PYTHONPATH=src:. python tools/dictionary_figures.py [--epochs 5]

Digits: the 1,797 scikit-learn digits through builtin:digits; every position of ``conv2`` (32 channels, 8 x 8
maps after its ReLU is applied here: the rows a dictionary of the layer's output sees) and ``fc1`` (120 units).
"""

from __future__ import annotations

import argparse
import numpy as np
import torch

import layerscope as ls
from layerscope.dictionary import train_dictionary
from layerscope.zoo import digits as zoo_digits
from tests.dictionary.planted import matched, planted


def _rows(model, x, layer, chunk=256):
    out = []
    for part in x.split(chunk):
        acts = ls.capture(model, part, [layer])
        t = acts[layer].float()
        out.append(t.permute(0, 2, 3, 1).reshape(-1, t.shape[1]) if t.dim() == 4 else t)
    return out


def _line(name, rows, d, extra=""):
    f = d.figures
    print(f"| {name} | {sum(len(r) for r in rows)} x {d.channels} | {d.kind} K={d.latents} k={d.k} | "
          f"{f['steps']} steps, {f['seconds']:.1f} s | {f['explained_variance']:.3f} | {f['l0']:.2f} | {f['dead']} |"
          f"{extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5, help="passes over conv2's rows")
    args = parser.parse_args()
    torch.manual_seed(0)
    print("| rows | data | dictionary | training | explained variance | L0 | dead | recovered |")
    p = planted(images=600, seed=0)
    rows = p.rows()
    for kind in ("topk", "batchtopk"):
        d = train_dictionary(rows, latents=32, k=2, kind=kind, epochs=10, batch_size=128, lr=1e-2, seed=0)
        best, _ = matched(p.directions, d.directions)
        _line("planted (16 features rotated in 16 channels)", rows, d,
              f" {int((best >= 0.9).sum())}/{len(best)} at cos >= 0.9 |")
    loaded = ls.load_model("builtin:digits")
    datasets = __import__("sklearn.datasets", fromlist=["load_digits"])
    images = zoo_digits.to_tensor(zoo_digits.upsample(datasets.load_digits().images))
    for layer, latents, k, batch_size, epochs in (("conv2", 256, 8, 1024, args.epochs), ("fc1", 256, 8, 128, 10)):
        rows = _rows(loaded.module, images, layer)
        rows = [r.relu() for r in rows]  # the layer's output goes through a ReLU in forward()
        for kind in ("topk", "batchtopk"):
            d = train_dictionary(rows, latents=latents, k=k, kind=kind, epochs=epochs, batch_size=batch_size,
                                 lr=1e-3, seed=0, layer=layer)
            _line(f"builtin:digits {layer} ({len(images)} digits)", rows, d, " |")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, numpy {np.__version__}")


if __name__ == "__main__":
    main()
