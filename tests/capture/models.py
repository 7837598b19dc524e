"""Tiny models with hand-set weights, so expected activations are literals."""

from __future__ import annotations

import dataclasses
from collections import namedtuple

import torch
import torch.nn as nn


def hand_conv() -> nn.Conv2d:
    """1 -> 2 channels, 2x2 kernel: channel 0 sums the window, channel 1 is right minus left, minus 1."""
    conv = nn.Conv2d(1, 2, kernel_size=2, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[-1.0, 1.0], [-1.0, 1.0]]]]))
        conv.bias.copy_(torch.tensor([0.0, -1.0]))
    return conv


def ramp_input() -> torch.Tensor:
    """1x1x3x3 input 0..8 row-major."""
    return torch.arange(9, dtype=torch.float32).reshape(1, 1, 3, 3)


# hand_conv(ramp_input()): channel 0 = [[8, 12], [20, 24]]; channel 1 = 2 - 1 = [[1, 1], [1, 1]]
CONV_ON_RAMP = torch.tensor([[[[8.0, 12.0], [20.0, 24.0]], [[1.0, 1.0], [1.0, 1.0]]]])


class InplaceNet(nn.Module):
    """conv -> ReLU(inplace) and a `+=` on the conv output, like VGG and ResNet do."""

    def __init__(self):
        super().__init__()
        self.conv = hand_conv()
        self.bn = nn.BatchNorm2d(2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.conv(x)
        out = self.bn(out)
        out += 100.0
        return self.relu(out)


class SharedReLU(nn.Module):
    """One ReLU module called twice in one forward."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.scale = nn.Identity()

    def forward(self, x):
        return self.relu(self.scale(self.relu(x)) - 1.0)


Pair = namedtuple("Pair", ["low", "high"])


@dataclasses.dataclass
class Output:
    logits: torch.Tensor
    note: str


class Structured(nn.Module):
    """Modules returning tuple, dict, namedtuple and dataclass outputs."""

    def __init__(self):
        super().__init__()
        self.split = _Split()
        self.named = _Named()
        self.head = _Head()

    def forward(self, x):
        a, b = self.split(x)
        pair = self.named(a)
        return self.head(pair.low + pair.high + b)


class _Split(nn.Module):
    def forward(self, x):
        return x * 2, {"b": x + 1, "meta": "text"}["b"]


class _Named(nn.Module):
    def forward(self, x):
        return Pair(low=x - 1, high=x + 1)


class _Head(nn.Module):
    def forward(self, x):
        return Output(logits=x.sum(dim=(2, 3)), note="done")


class DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _DictBlock()

    def forward(self, x):
        return self.block(x)["out"]


class _DictBlock(nn.Module):
    def forward(self, x):
        return {"out": x * 3, "aux": (x, None), "count": 3}


class Exploding(nn.Module):
    """Raises inside the forward after its first layer ran."""

    def __init__(self):
        super().__init__()
        self.conv = hand_conv()
        self.bad = nn.Linear(3, 3)

    def forward(self, x):
        return self.bad(self.conv(x))  # shape mismatch: raises
