"""Train ``builtin:digits`` from scratch, on CPU, reproducibly.

    python -m layerscope.zoo.train digits --out DIR

writes ``DIR/digits.safetensors`` and ``DIR/digits.json`` (held-out accuracy,
split, seeds, preprocessing, versions, date, sha256 of the weights). The
shipped files were made with ``--out src/layerscope/zoo/weights
--samples-out src/layerscope/zoo/samples --overwrite``. Exact bits can differ
between CPUs and thread counts; the accuracy reproduces within a few images.

>>> main(["digits", "--epochs", "1", "--limit", "64", "--out", tmp])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import digits
from ..core.files import write_atomic
from ._files import refuse_existing, sha256_file

TRAIN_SEED = 1  # shuffling and augmentation
EPOCHS, BATCH, LR = 40, 64, 3e-3
# Strong decoupled weight decay on the conv kernels removes the part of the random init the data never
# push on, so conv1 ends as clean oriented stroke/edge detectors instead of init noise (accuracy unchanged).
CONV_DECAY, OTHER_DECAY = 5.0, 1e-4
MAX_DEGREES, MAX_SHIFT, SCALE = 12.0, 2.0, (0.9, 1.1)
SAMPLES_PER_CLASS = 3
COMMAND = (
    "python -m layerscope.zoo.train digits --out src/layerscope/zoo/weights "
    "--samples-out src/layerscope/zoo/samples --overwrite"
)


def augment(pixels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random small rotation, scale and shift of (N, 1, 28, 28) pixels in [0, 1]; black fill."""
    n = pixels.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(MAX_DEGREES)
    scale = SCALE[0] + torch.rand(n, generator=gen) * (SCALE[1] - SCALE[0])
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 * MAX_SHIFT / digits.INPUT_SIZE[0])
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    return F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(correct, total) of ``model`` on uint8 images."""
    predicted = model.eval()(digits.to_tensor(images)).argmax(1).numpy()
    return int((predicted == labels).sum()), len(labels)


def fit(images: np.ndarray, labels: np.ndarray, epochs: int, log=print) -> torch.nn.Module:
    """Train the untrained copy (init seed ``INIT_SEED``) with AdamW, one-cycle LR, augmentation."""
    model = digits.untrained().train()
    gen = torch.Generator().manual_seed(TRAIN_SEED)
    pixels = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    targets = torch.from_numpy(labels)
    kernels = [p for n, p in model.named_parameters() if n.startswith("conv") and n.endswith("weight")]
    others = [p for n, p in model.named_parameters() if not (n.startswith("conv") and n.endswith("weight"))]
    groups = [{"params": kernels, "weight_decay": CONV_DECAY}, {"params": others, "weight_decay": OTHER_DECAY}]
    optimizer = torch.optim.AdamW(groups, lr=LR)
    steps = epochs * math.ceil(len(targets) / BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=steps)
    for epoch in range(epochs):
        order, total = torch.randperm(len(targets), generator=gen), 0.0
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            x = (augment(pixels[batch], gen) - digits.MEAN[0]) / digits.STD[0]
            loss = F.cross_entropy(model(x), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        log(f"epoch {epoch + 1}/{epochs}  loss {total / len(targets):.4f}")
    return model.eval()


def pick_samples(labels: np.ndarray, per_class: int = SAMPLES_PER_CLASS) -> np.ndarray:
    """Positions of the first ``per_class`` examples of each class, ordered 0..9, 0..9, ...

    >>> pick_samples(np.array([1, 0, 1, 0, 0]), per_class=2).tolist()
    [1, 0, 3, 2]
    """
    firsts = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.stack(firsts, 1).reshape(-1)


def _metadata(correct: int, total: int, n_train: int, args: argparse.Namespace, seconds: float, sha: str) -> dict:
    import sklearn

    return {
        "name": "digits",
        "architecture": "SimpleCNN (layerscope.zoo.digits)",
        "held_out_accuracy": correct / total,
        "held_out_correct": correct,
        "held_out_count": total,
        "train_count": n_train,
        "split": {"method": "sklearn train_test_split, stratified", "held_out_fraction": digits.HELD_OUT_FRACTION,
                  "random_state": digits.SPLIT_SEED},
        "init_seed": digits.INIT_SEED, "train_seed": TRAIN_SEED,
        "epochs": args.epochs, "batch_size": BATCH, "limit": args.limit,
        "optimizer": f"AdamW(weight_decay conv kernels {CONV_DECAY}, others {OTHER_DECAY}) + OneCycleLR(max_lr={LR})",
        "augmentation": f"rotation +-{MAX_DEGREES} deg, scale {SCALE[0]}-{SCALE[1]}, shift +-{MAX_SHIFT} px",
        "preprocessing": {"input_size": list(digits.INPUT_SIZE), "channels": 1, "mean": list(digits.MEAN),
                          "std": list(digits.STD), "pixel_scale": "uint8 / 255 -> [0, 1], then (x - mean) / std",
                          "source_data": "sklearn load_digits 8x8 (0-16), bilinear to 20x20, x255/16 rounded half up, "
                                         "4 px black border"},
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "sklearn": sklearn.__version__,
                     "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "train_wall_time_s": round(seconds, 1),
        "threads": args.threads,
        "weights_file": "digits.safetensors",
        "sha256": sha,
        "command": COMMAND,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m layerscope.zoo.train", description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=["digits"], help="builtin model to train")
    parser.add_argument("--out", default=".", help="directory for digits.safetensors + digits.json (default: .)")
    parser.add_argument("--samples-out", default=None, help="also write digits.npz (held-out sample digits) here")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"default {EPOCHS}")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N training images (quick runs)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for this "
                        "tiny net, and bit-reproducible whatever the core count)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: train, evaluate on the held-out split, write weights + metadata (+ samples)."""
    from safetensors.torch import save

    parser = _parser()
    args = parser.parse_args(argv)
    if args.epochs < 1 or (args.limit is not None and args.limit < 1) or args.threads < 1:
        parser.error("--epochs, --limit and --threads must be >= 1")
    out = Path(args.out)
    targets = [out / "digits.safetensors", out / "digits.json"]
    if args.samples_out is not None:
        targets.append(Path(args.samples_out) / "digits.npz")
    refuse_existing(targets, args.overwrite, "--overwrite")
    train_x, train_y, held_x, held_y, held_idx = digits.load_split()
    if args.limit is not None:
        train_x, train_y = train_x[: args.limit], train_y[: args.limit]
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        started = time.perf_counter()
        model = fit(train_x, train_y, args.epochs)
        seconds = time.perf_counter() - started
        correct, total = accuracy(model, held_x, held_y)
    finally:
        torch.set_num_threads(threads)
    print(f"held-out accuracy {correct}/{total} = {correct / total:.4f}  ({seconds:.1f} s)")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    # a single metadata key: safetensors writes several in random order, which breaks byte-reproducibility
    write_atomic(save(state, metadata={"format": "pt"}), targets[0])
    meta = _metadata(correct, total, len(train_y), args, seconds, sha256_file(targets[0]))
    write_atomic((json.dumps(meta, indent=2) + "\n").encode(), targets[1])
    if args.samples_out is not None:
        keep = pick_samples(held_y)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=held_x[keep], labels=held_y[keep], indices=held_idx[keep])
        write_atomic(buffer.getvalue(), targets[2])
    print("wrote " + ", ".join(str(t) for t in targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
