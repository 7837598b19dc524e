"""A tiny LightningModule on the digits for the MonitorCallback tests; run as a script, a 2-process DDP fit on CPU.

``python tests/train/lightning_digits.py OUT`` fits with ``strategy="ddp"`` (gloo, 2 CPU processes; Lightning
starts the second by running this script again) and writes ``OUT/rank<r>.json``: how many training and probe
forwards each process ran. The model's forward holds a collective (an all-reduce): a probe forward on one rank
without the other would pair it with a training step's collectives, and hang or fail.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from layerscope.zoo.digits import load_split, to_tensor, untrained

LAYERS = ["net.conv1", "net.conv2"]


class Digits(pl.LightningModule):
    """The zoo's SimpleCNN from its seeded init, SGD; counts its forwards (training: with grad; probe: without)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = untrained()
        self.forwards = {"training": 0, "probe": 0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forwards["training" if torch.is_grad_enabled() else "probe"] += 1
        if dist.is_available() and dist.is_initialized():  # a collective in the forward, as SyncBatchNorm has
            dist.all_reduce(torch.ones(1))
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def data(batch_size: int = 32) -> tuple[DataLoader, torch.Tensor]:
    """The training digits in a fixed order, and a probe batch of 4 held-out digits."""
    train_x, train_y, held_x, _, _ = load_split()
    dataset = TensorDataset(to_tensor(train_x), torch.from_numpy(train_y))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False), to_tensor(held_x[:4])


def trainer(root: Path, **kwargs) -> pl.Trainer:
    """A quiet CPU trainer writing under ``root``."""
    settings = dict(accelerator="cpu", devices=1, default_root_dir=str(root), enable_progress_bar=False,
                    enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1)
    return pl.Trainer(**{**settings, **kwargs})


def main(out: Path) -> None:
    from lightning.pytorch.loggers import TensorBoardLogger
    from lightning.pytorch.strategies import DDPStrategy

    from layerscope.train import FolderSink, MonitorCallback

    torch.set_num_threads(1)
    loader, probe = data()
    callback = MonitorCallback(probe, LAYERS, every=2, sink=FolderSink(out / "folder"))
    model = Digits()
    fit = trainer(out, devices=2, max_steps=4, enable_checkpointing=False, callbacks=[callback],
                  strategy=DDPStrategy(process_group_backend="gloo", timeout=timedelta(seconds=60)),
                  logger=TensorBoardLogger(str(out), name="tb", version=0))
    fit.fit(model, loader)
    record = {"rank": fit.global_rank, "forwards": model.forwards, "last_logged": callback.last_logged,
              "history": [entry["step"] for entry in callback.monitor.history],
              "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())}
    (out / f"rank{fit.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
