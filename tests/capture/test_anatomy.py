"""The walk kept per model: equal to torch's own walk, fresh after every kind of change, never keeping a model alive."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
import torch.nn as nn
import torchvision

from layerscope import capture
import layerscope.capturing.anatomy as anatomy_module
from layerscope.capturing import Recorder
from layerscope.capturing.anatomy import anatomy
from layerscope.capturing.plan import forget

from .models import CONV_ON_RAMP, hand_conv, ramp_input
from .test_corners import StepCounter


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "densenet121", "vit_b_16"])
def test_the_walk_is_torchs_walk(name):
    model = torchvision.models.get_model(name, weights=None)
    body = anatomy(model)
    expected = [(n, m) for n, m in model.named_modules(remove_duplicate=False) if n]
    assert list(body.named.items()) == expected
    assert body.modules == [m for m in model.modules() if m is not model]
    assert [id(t) for t in body.buffers] == [id(t) for t in model.buffers()]
    assert [id(p) for p in body.params] == [id(p) for p in model.parameters()]


def test_a_shared_module_is_listed_under_each_path_and_walked_once():
    shared = nn.Conv2d(1, 1, 1)
    model = nn.Sequential(shared, nn.Sequential(shared))
    body = anatomy(model)
    assert list(body.named) == ["0", "1", "1.0"] and body.modules == [shared, model[1]]


def _replace_child(m):
    m.body[0] = nn.Conv2d(1, 2, 2)


def _delete_child(m):
    del m.body[1]


def _insert_child(m):  # Sequential.insert writes _modules directly: no registration hook fires
    m.body.insert(1, nn.Identity())


def _pop_and_insert(m):  # the same number of modules afterwards
    m.body.insert(0, m.body.pop(1))


def _rename(m):
    m.body._modules = {("renamed" if k == "1" else k): v for k, v in m.body._modules.items()}


def _new_buffer(m):
    m.bn.running_mean = torch.ones(2)


def _to_double(m):  # _apply replaces every buffer tensor
    m.double().float()


def _assign_weights(m):
    m.load_state_dict({k: v.clone() for k, v in m.state_dict().items()}, assign=True)


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(hand_conv(), nn.ReLU())
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        return self.bn(self.body(x))


@pytest.mark.parametrize(
    "change",
    [_replace_child, _delete_child, _insert_child, _pop_and_insert, _rename, _new_buffer, _to_double, _assign_weights],
)
def test_any_change_of_the_tree_makes_a_fresh_walk(change):
    model = Body()
    capture(model, ramp_input(), "all")
    kept = anatomy(model)
    assert anatomy(model) is kept  # unchanged: the same walk
    change(model)
    fresh = anatomy(model)
    assert fresh is not kept
    assert list(fresh.named.items()) == [(n, m) for n, m in model.named_modules(remove_duplicate=False) if n]
    assert [id(t) for t in fresh.buffers] == [id(t) for t in model.buffers()]
    assert [id(p) for p in fresh.params] == [id(p) for p in model.parameters()]


def test_a_layer_added_between_two_captures_is_captured():
    model = nn.Sequential(hand_conv())
    assert list(capture(model, ramp_input())) == ["0"]
    model.append(nn.Conv2d(2, 1, 1))
    assert list(capture(model, ramp_input())) == ["0", "1"]
    model[0] = nn.Conv2d(1, 2, 2)  # replaced under the same name: the new module is hooked
    assert not torch.equal(capture(model, ramp_input())["0"], CONV_ON_RAMP)


def test_a_buffer_replaced_between_two_captures_is_put_back():
    model = StepCounter()
    capture(model, ramp_input())
    model.steps = torch.full((), 10, dtype=torch.long)  # a new tensor: the kept copies do not cover it
    capture(model, ramp_input())
    assert int(model.steps) == 10


def test_buffer_copies_kept_between_captures_follow_the_users_writes():
    model = StepCounter()
    capture(model, ramp_input())
    assert anatomy(model).copies is not None  # kept for the next call
    with torch.no_grad():
        model.steps.fill_(41)  # seen by its version counter: copied again
    capture(model, ramp_input())
    assert int(model.steps) == 41
    model.steps.data.fill_(5)  # invisible to version counters; but a buffer the forward writes is copied afresh
    capture(model, ramp_input())
    assert int(model.steps) == 5


def test_copies_of_large_buffers_are_not_kept(monkeypatch):
    monkeypatch.setattr(anatomy_module, "KEEP_COPIES_BYTES", 8)
    model = StepCounter()  # 8 bytes of steps + 8 of cache
    capture(model, ramp_input())
    assert anatomy(model).copies is None and int(model.steps) == 0


def test_a_block_inside_another_on_the_same_model_makes_its_own_copies():
    model = StepCounter()
    with Recorder(model, "conv") as outer:
        with Recorder(model, "conv") as inner:
            assert torch.equal(inner(ramp_input())["conv"], CONV_ON_RAMP)
            assert torch.equal(outer(ramp_input())["conv"], CONV_ON_RAMP)
    assert int(model.steps) == 0 and torch.equal(model.cache, torch.zeros(2))


@pytest.mark.parametrize("layers", [None, "all", "conv"])
def test_the_kept_walk_does_not_keep_its_model_alive(layers):
    model = nn.Sequential(hand_conv(), nn.ReLU(inplace=True)) if layers != "conv" else StepCounter()
    capture(model, ramp_input(), layers)
    bare = nn.Conv2d(1, 1, 1)  # a bare module captures its own output: that selection is not kept
    capture(bare, ramp_input())
    refs = [weakref.ref(model), weakref.ref(bare)]
    del model, bare
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_forget_starts_afresh():
    model = Body()
    capture(model, ramp_input())
    kept = anatomy(model)
    forget(model)
    assert anatomy(model) is not kept


class DefinesEq(nn.Module):
    """A module that defines __eq__ (so Python makes it unhashable): kept by identity all the same."""

    def __init__(self):
        super().__init__()
        self.conv = hand_conv()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))

    def __eq__(self, other):
        return self is other


def test_a_model_that_cannot_be_hashed_is_captured_and_its_walk_kept():
    model = DefinesEq()
    with pytest.raises(TypeError):
        hash(model)
    for _ in range(2):
        acts = capture(model, ramp_input(), "conv")
        assert torch.equal(acts["conv"], CONV_ON_RAMP) and acts.protected == {"conv"}
    assert anatomy(model) is anatomy(model)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
