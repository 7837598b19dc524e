"""capture/state.py: one owner for hooks, train/eval flags and buffers, used by every entry point."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from layerscope import diagnose, list_layers
from layerscope.capturing import ModelState

from .test_corners import StepCounter
from .models import ramp_input


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_hooks_modes_and_buffers_come_back_after_a_raising_forward():
    model = StepCounter().train()
    with pytest.raises(RuntimeError, match="boom"):
        with ModelState(model) as state:
            state.hook(model.conv, lambda m, a: None, pre=True)
            state.hook(model.conv, lambda m, a, o: None)
            with state.forward():
                model(ramp_input())
                raise RuntimeError("boom")
    assert _no_hooks(model) and model.training and model.conv.training and int(model.steps) == 0


def test_eval_false_keeps_the_modes_during_the_block():
    model = nn.Sequential(nn.Dropout()).train()
    with ModelState(model, eval=False):
        assert model.training
    assert model.training


@pytest.mark.parametrize("entry", ["list_layers", "diagnose"])
def test_every_entry_point_leaves_the_model_as_it_was(entry):
    model = StepCounter().train()
    if entry == "list_layers":
        list_layers(model, ramp_input())
    else:
        diagnose(model, ramp_input().repeat(2, 1, 1, 1))
    assert _no_hooks(model) and model.training and int(model.steps) == 0 and torch.equal(model.cache, torch.zeros(2))
