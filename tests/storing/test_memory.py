"""Flat memory: a dump's peak RSS does not grow with the dataset (rows go to disk part by part).

Two fresh processes dump N and 10 N generated 32x32 images (made from their index, so the data itself takes no
memory) through ResNet-18's conv1 and layer1, every position, float16, parts of 5 batches of 32; their peaks
(VmHWM) must agree within 10% although the second writes ten times the rows.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ENV

CHILD = """
import sys, torch, torchvision, layerscope as ls

class Generated(torch.utils.data.Dataset):
    def __init__(self, count):
        self.count = count
    def __len__(self):
        return self.count
    def __getitem__(self, i):
        return torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(i))

torch.manual_seed(0)
store = ls.dump(torchvision.models.resnet18().eval(), Generated(int(sys.argv[1])), layers=["conv1", "layer1"],
                out=sys.argv[2], batch_size=32, save_every=5, progress=False)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(len(store["conv1"]), len(store.meta["parts"]), peak)
"""


def peak(count: int, out) -> tuple[int, int, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(count), str(out)], capture_output=True, text=True,
                          timeout=600, env=ENV, check=True)
    rows, parts, kib = done.stdout.split()[-3:]
    return int(rows), int(parts), int(kib) / 1024


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_dataset(tmp_path):
    small, large = peak(320, tmp_path / "small"), peak(3200, tmp_path / "large")
    print(f"peak RSS: 320 images {small[2]:.0f} MiB ({small[0]} rows, {small[1]} parts); "
          f"3200 images {large[2]:.0f} MiB ({large[0]} rows, {large[1]} parts)")
    assert large[0] == 10 * small[0] == 10 * 320 * 16 * 16 and large[1] == 10 * small[1]
    assert large[2] < 1.1 * small[2]
