"""A conv with hand-set kernels and a hand-made 8x8 input: expected maps are literals."""

from __future__ import annotations

import torch
import torch.nn as nn


def hand_conv() -> nn.Conv2d:
    """1 -> 4 channels, 3x3, padding 1: identity, horizontal gradient, vertical gradient, constant 0.5."""
    conv = nn.Conv2d(1, 4, kernel_size=3, padding=1, bias=True)
    kernels = torch.zeros(4, 1, 3, 3)
    kernels[0, 0, 1, 1] = 1.0
    kernels[1, 0, 1] = torch.tensor([-1.0, 0.0, 1.0])
    kernels[2, 0, :, 1] = torch.tensor([-1.0, 0.0, 1.0])
    with torch.no_grad():
        conv.weight.copy_(kernels)
        conv.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.5]))
    return conv


def square_input() -> torch.Tensor:
    """(1, 1, 8, 8): a bright 4x4 square (value 2) on a left-to-right ramp 0, 0.125, ... 0.875."""
    x = torch.arange(8, dtype=torch.float32).div(8).expand(8, 8).clone()
    x[2:6, 2:6] = 2.0
    return x.reshape(1, 1, 8, 8)


def conv_maps() -> torch.Tensor:
    """(4, 8, 8): the hand conv on the square input."""
    with torch.no_grad():
        return hand_conv()(square_input())[0]
