"""Small models and data for the diagnose tests: planted faults by weight surgery, a colour-sensitive classifier.

Nothing here is downloaded; the colour classifier is trained in a few seconds from a fixed seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

OBJECT_RGB = (0.9, 0.5, 0.3)  # a red object on a grey-green background: the shape is visible only in R,
BACKGROUND_RGB = (0.3, 0.5, 0.3)  # so with R and B swapped the model no longer sees it
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


class TwoConv(nn.Module):
    """conv1 (3->8) -> ReLU -> conv2 (8->8) -> ReLU -> mean -> fc: weights set by the tests."""

    def __init__(self, act: type = nn.ReLU) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.act1 = act()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.act2 = act()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


def smooth_images(n: int, size: int = 24, seed: int = 0) -> torch.Tensor:
    """Natural-ish images: blurred noise, values around 0 with std ~1 (already 'normalized')."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size + 8, size + 8, generator=gen)
    kernel = torch.ones(3, 1, 5, 5) / 25
    x = F.conv2d(x, kernel, groups=3)[..., :size, :size]
    return x / x.std()


def shapes(n: int, seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB pixels in [0, 1]: a red disc (0), square (1) or horizontal bar (2) on a green background."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(3, (n,), generator=gen)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    images = []
    for label in labels.tolist():
        cy, cx = (torch.rand(2, generator=gen) * (size / 2) + size / 4).tolist()
        r = float(torch.rand((), generator=gen) * 3 + 5)
        if label == 0:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        elif label == 1:
            mask = ((yy - cy).abs() <= r * 0.85) & ((xx - cx).abs() <= r * 0.85)
        else:
            mask = ((yy - cy).abs() <= r * 0.35) & ((xx - cx).abs() <= r * 1.6)
        obj = torch.tensor(OBJECT_RGB)[:, None, None]
        bg = torch.tensor(BACKGROUND_RGB)[:, None, None]
        image = torch.where(mask, obj, bg) + 0.05 * torch.randn(3, size, size, generator=gen)
        images.append(image.clamp(0, 1))
    return torch.stack(images), labels


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


class ColourNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        return self.fc(x.amax((2, 3)))


def colour_classifier(steps: int = 150) -> ColourNet:
    """A shape classifier that learned its shapes in red on green: colour-sensitive by its data."""
    torch.manual_seed(0)
    model = ColourNet()
    x, y = shapes(512, seed=1)
    x = normalize(x)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        batch = torch.arange(64) + (step * 64) % 448
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
