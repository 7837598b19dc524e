"""Shared by the explain tests: a torchvision ResNet-18 (random init, seeded) and a small batch of images."""

from __future__ import annotations

import pytest
import torch
import torchvision


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
