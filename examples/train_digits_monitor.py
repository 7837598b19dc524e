"""Is it learning? The seed tutorial's lesson as an experiment: train SimpleCNN with a Monitor, then compare.

    python examples/train_digits_monitor.py [--epochs 6] [--out train-digits] [--pictures DIR]

Trains the tutorial's SimpleCNN (``layerscope.zoo.digits``) from its random init on scikit-learn's
offline handwritten digits for a few epochs, in a plain training loop with a
:class:`layerscope.train.Monitor` on conv1 and conv2 (grids, histograms and diagnosis numbers of four
held-out digits every 10 steps, to ``OUT/monitor`` and, with tensorboard installed, ``OUT/tensorboard``).
Then, for the weights after every epoch: linear CKA to the final model (``layerscope.compare``), the
noise score of conv1's maps and the model's tendency (``layerscope.diagnose``: read from the weights, with no
data), and the pictures:
``OUT/pictures/cka_per_epoch.png``, ``conv1_maps_per_epoch.png`` (one digit's conv1 maps after each
epoch: speckle fading into strokes) and ``conv1_untrained_vs_trained.png`` (conv1's maps, channels
matched, on one scale).
Needs scikit-learn (``pip install 'layerscope[train]'``); about 20 seconds on two CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import layerscope as ls
from layerscope.render import render_grid, save_png
from layerscope.train import FolderSink, Monitor, TensorBoardSink
from layerscope.zoo import digits
from layerscope.zoo import train as recipe  # the builtin model's augmentation and hyper-parameters

LAYERS = ["conv1", "conv2", "fc1"]
HELD_OUT = 200  # held-out digits the checkpoints are compared and diagnosed on


def sinks(out: Path) -> list:
    chosen: list = [FolderSink(out / "monitor", overwrite=True)]
    try:
        chosen.append(TensorBoardSink(out / "tensorboard"))
    except ls.MissingDependencyError:
        print("tensorboard is not installed: logging to the folder only")
    return chosen


def train(epochs: int, monitor: Monitor, images: np.ndarray, labels: np.ndarray, model) -> list[dict]:
    """A plain training loop (the recipe of ``builtin:digits``, shortened); returns the weights after each epoch."""
    decayed = {id(p) for name, p in model.named_parameters() if name.startswith("conv") and name.endswith("weight")}
    groups = [{"params": [p for p in model.parameters() if id(p) in decayed], "weight_decay": recipe.CONV_DECAY},
              {"params": [p for p in model.parameters() if id(p) not in decayed], "weight_decay": recipe.OTHER_DECAY}]
    optimizer = torch.optim.AdamW(groups, lr=recipe.LR)
    per_epoch = math.ceil(len(labels) / recipe.BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.LR, total_steps=epochs * per_epoch)
    pixels, targets = torch.from_numpy(images / np.float32(255)).unsqueeze(1), torch.from_numpy(labels)
    gen = torch.Generator().manual_seed(recipe.TRAIN_SEED)
    weights = [copy.deepcopy(model.state_dict())]
    model.train()
    for epoch in range(epochs):
        for batch in torch.randperm(len(targets), generator=gen).split(recipe.BATCH):
            x = (recipe.augment(pixels[batch], gen) - digits.MEAN[0]) / digits.STD[0]
            loss = F.cross_entropy(model(x), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            monitor.step()  # every 10 steps: grids, histograms and numbers of the probe digits
        weights.append(copy.deepcopy(model.state_dict()))
        print(f"epoch {epoch + 1}/{epochs}  loss {loss.item():.3f}")
    return weights


def checkpoints(weights: list[dict]) -> list[torch.nn.Module]:
    models: list[torch.nn.Module] = []
    for state in weights:
        model = digits.SimpleCNN()
        model.load_state_dict(state)
        models.append(model.eval())
    return models


def measure(models: list, held: torch.Tensor, held_labels: np.ndarray) -> list[dict]:
    """Per checkpoint: accuracy, CKA and cosine to the final model, conv1 noise score, tendency."""
    rows = []
    for epoch, model in enumerate(models):
        with torch.no_grad():
            accuracy = float((model(held).argmax(1).numpy() == held_labels).mean())
        comparison = ls.compare(model, models[-1], held, LAYERS, match=["conv1"], labels=(f"epoch {epoch}", "final"))
        diagnosis = ls.diagnose(model, held, ["conv1", "conv2"], channel_order=False)
        matched = comparison["conv1"].match
        assert matched is not None  # match=["conv1"] asked for it
        rows.append({"epoch": epoch, "accuracy": accuracy, **{f"cka {p.layer_a}": p.cka for p in comparison.pairs},
                     "cosine conv1": comparison["conv1"].cosine,
                     "matched conv1": float(np.mean(matched.correlation)),
                     "noise conv1": diagnosis["conv1"].noise, "tendency": diagnosis.tendency.label,
                     "tendency score": diagnosis.tendency.score,
                     "tendency from": diagnosis.tendency.source})
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    return "\n".join(lines)


def chart(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    from layerscope.diagnosis import Thresholds

    epochs = [row["epoch"] for row in rows]
    fig = Figure(figsize=(8, 3.2), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2)
    for layer in LAYERS:
        left.plot(epochs, [row[f"cka {layer}"] for row in rows], marker="o", label=layer)
    left.set(xlabel="epoch", ylabel="linear CKA to the final model", title="How close to the end?")
    left.legend(fontsize=8)
    scores = [float("nan") if row["tendency score"] is None else row["tendency score"] for row in rows]
    right.plot(epochs, scores, marker="o", color="black")
    t = Thresholds()
    sources = {row["tendency from"] for row in rows}
    if sources == {"weights"}:  # read from the weights alone: the share of weight matrices beyond the MP edge
        right.axhspan(0, t.weights_heavy_untrained, color="#f4a6a6", label="untrained")
        right.axhspan(t.weights_heavy_trained, 1.05, color="#a6e3a6", label="trained")
        what = "tendency score (share of heavy-tailed weight matrices)"
    else:
        what = "tendency score (" + ", ".join(sorted(sources)) + ")"
    for epoch, score, row in zip(epochs, scores, rows):
        text = row["tendency"] + (f" ({row['tendency from']})" if len(sources) > 1 else "")
        right.annotate(text, (epoch, score), textcoords="offset points", xytext=(0, 6), fontsize=7, ha="center")
    right.set(xlabel="epoch", ylabel=what, title="Does it look trained?")
    if len(sources) == 1:
        right.legend(fontsize=8, loc="center right")
    ls.render.save_figure(fig, path, overwrite=True)


def maps_per_epoch(models: list, digit: torch.Tensor, path: Path) -> None:
    """conv1's 16 maps of one held-out digit after each epoch, one row per epoch (channel min-max)."""
    rows = []
    for epoch, model in enumerate(models):
        maps = ls.capture(model, digit[None], "conv1")["conv1"][0]
        rows.append(render_grid(maps, scale=3, columns=16, padding=3, caption=f"epoch {epoch}").rgb)
    width = max(r.shape[1] for r in rows)
    save_png(np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                             for r in rows]), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default="train-digits", help="output folder (default train-digits)")
    parser.add_argument("--pictures", default=None, help="folder for the pictures (default OUT/pictures)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    pictures = Path(args.pictures) if args.pictures else out / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # tiny network: one thread is fastest, and reproducible
    train_x, train_y, held_x, held_y, _ = digits.load_split()
    held, held_labels = digits.to_tensor(held_x[:HELD_OUT]), held_y[:HELD_OUT]
    model = digits.untrained()
    with Monitor(model, ["conv1", "conv2"], every=10, inputs=digits.to_tensor(held_x[:4]), sink=sinks(out)) as monitor:
        weights = train(args.epochs, monitor, train_x, train_y, model)
    print(f"monitor: {len(monitor.history)} logs, tendency {monitor.history[0]['tendency']} at step 0, "
          f"{monitor.history[-1]['tendency']} at step {monitor.history[-1]['step']}")
    models = checkpoints(weights)
    rows = measure(models, held, held_labels)
    print(table(rows))
    chart(rows, pictures / "cka_per_epoch.png")
    maps_per_epoch(models, held[0], pictures / "conv1_maps_per_epoch.png")
    first = ls.compare(models[0], models[-1], held, ["conv1"], labels=("untrained", "trained"))
    matched = first["conv1"].match
    assert matched is not None  # compare matches channels by default
    save_png(matched.grids(16, scale=3).array, pictures / "conv1_untrained_vs_trained.png")
    print(f"pictures in {pictures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
