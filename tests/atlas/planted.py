"""Planted classes for the atlas tests: images of four synthetic kinds (horizontal stripes, vertical stripes, a
checkerboard, a red disc) with noise and random phases, and a small seeded conv net."""

from __future__ import annotations

import torch
from torch import nn

KINDS = ("horizontal", "vertical", "checker", "disc")


def planted_images(per_class: int = 40, size: int = 24, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    """(4 * per_class, 3, size, size) images in [0, 1] and their class names."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images, labels = [], []
    for kind in KINDS:
        for _ in range(per_class):
            period = 4 + int(torch.randint(0, 3, (1,), generator=g))
            phase = int(torch.randint(0, period, (1,), generator=g))
            if kind == "horizontal":
                grey = ((ys + phase) // (period // 2) % 2).float().expand(3, size, size)
            elif kind == "vertical":
                grey = ((xs + phase) // (period // 2) % 2).float().expand(3, size, size)
            elif kind == "checker":
                grey = (((ys + phase) // 3 + (xs + phase) // 3) % 2).float().expand(3, size, size)
            else:
                cy, cx = torch.randint(8, size - 8, (2,), generator=g).tolist()
                disc = (((ys - cy) ** 2 + (xs - cx) ** 2) < 30).float()
                grey = torch.stack([disc, disc * 0.1, disc * 0.1])
            noise = 0.15 * torch.randn(3, size, size, generator=g)
            images.append((grey + noise).clamp(0, 1))
            labels.append(kind)
    return torch.stack(images), labels


def planted_net(seed: int = 0) -> nn.Module:
    """Two random convolutions (seeded), each followed by a ReLU."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 16, 5), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU()).eval()
