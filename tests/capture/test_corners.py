"""Exact in every corner: buffers, name collisions, exact names, mixed inputs, autograd, unforeseen writes."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from layerscope import Args, LayerNotFoundError, Recorder, capture, list_layers
from layerscope.capturing.plan import forget
from layerscope.errors import ForwardError, InputError

from .models import CONV_ON_RAMP, hand_conv, ramp_input


class StepCounter(nn.Module):
    """Rewrites its buffers in the forward: a counter in place, a cache reassigned, a buffer registered."""

    def __init__(self):
        super().__init__()
        self.conv = hand_conv()
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("cache", torch.zeros(2))

    def forward(self, x):
        self.steps += 1
        self.cache = torch.full((2,), 7.0)
        self.register_buffer("made_in_forward", torch.ones(1), persistent=False)
        return self.conv(x)


def test_buffers_rewritten_in_the_forward_are_restored():
    model = StepCounter()
    cache = model.cache
    with Recorder(model, "conv") as rec:
        for _ in range(3):
            assert torch.equal(rec(ramp_input())["conv"], CONV_ON_RAMP)
            assert int(model.steps) == 0 and model.cache is cache
    capture(model, ramp_input())
    assert int(model.steps) == 0 and model.cache is cache and torch.equal(cache, torch.zeros(2))
    assert "made_in_forward" not in model._buffers and "made_in_forward" not in model._non_persistent_buffers_set


def test_restore_buffers_false_keeps_what_the_forward_did():
    model = StepCounter()
    with Recorder(model, restore_buffers=False) as rec:
        rec(ramp_input())
        rec(ramp_input())
    assert int(model.steps) == 2 and torch.equal(model.cache, torch.full((2,), 7.0))
    assert "made_in_forward" in model._buffers


def test_buffers_changed_between_calls_by_the_user_are_kept():
    model = StepCounter()
    with Recorder(model, "conv") as rec:
        rec(ramp_input())
        with torch.no_grad():
            model.steps.fill_(41)
        rec(ramp_input())
        assert int(model.steps) == 41


def test_a_parameter_changed_in_the_forward_is_reported():
    class Drifting(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = hand_conv()

        def forward(self, x):
            self.conv.bias.add_(1.0)
            return self.conv(x)

    with pytest.warns(RuntimeWarning, match="modified the parameter Conv2d.bias in place"):
        capture(Drifting(), ramp_input())


def test_container_outputs_never_collide_with_child_names():
    model = nn.Sequential(nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 3, batch_first=True)))
    acts = capture(model, torch.tensor([[1, 2, 3]]), ["0", "0.0", "0.1"])
    assert list(acts) == ["0.0", "0.1:0", "0.1:1:0", "0.1:1:1", "0:0", "0:1:0", "0:1:1"]
    assert torch.equal(acts["0:0"], acts["0.1:0"])
    assert acts["0.0"].shape == (1, 3, 4) and acts.info["0.1:1:0"].output_path == ":1:0"


def test_a_collision_that_cannot_be_avoided_is_refused():
    class Weird(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = _Pair()
            self.add_module("block:0", nn.Identity())

        def forward(self, x):
            return getattr(self, "block:0")(self.block(x)[0])

    with pytest.raises(InputError, match=r"both be named 'block:0'.*'block'.*'block:0'"):
        capture(Weird(), torch.ones(2), ["block", "block:0"])


class _Pair(nn.Module):
    def forward(self, x):
        return x * 2, x * 3


def test_an_exact_name_wins_over_a_pattern():
    model = nn.ModuleDict({"x[0]": nn.Linear(2, 2), "x0": nn.Linear(2, 3)})
    model.forward = lambda x: model["x0"](model["x[0]"](x))  # noqa: E731 - a ModuleDict has no forward
    from layerscope.capturing import select_layers

    assert select_layers(model, "x[0]") == ["x[0]"]
    assert select_layers(model, "x[0-9]") == ["x0"]
    assert list(capture(model, torch.ones(1, 2), "x[0]")) == ["x[0]"]


def test_a_comma_inside_an_exact_name_is_not_a_separator():
    model = nn.ModuleDict({"a,b": nn.Linear(2, 2)})
    from layerscope.capturing import select_layers

    assert select_layers(model, "a,b") == ["a,b"]
    with pytest.raises(LayerNotFoundError):
        select_layers(model, "a,c")


class Masked(nn.Module):
    """A Hugging Face style forward: ids positional, mask by keyword."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.proj = nn.Linear(4, 2)

    def forward(self, input_ids, attention_mask=None):
        hidden = self.embed(input_ids)
        if attention_mask is not None:
            hidden = hidden * attention_mask[..., None]
        return self.proj(hidden)


def test_positional_and_keyword_inputs_together_everywhere():
    ids, mask = torch.tensor([[1, 2, 3]]), torch.tensor([[1.0, 1.0, 0.0]])
    model = Masked()
    acts = capture(model, Args(ids, attention_mask=mask), ["proj"])
    assert torch.equal(acts["proj"][0, 2], model.proj.bias.detach())
    with Recorder(model, "proj") as rec:
        assert torch.equal(rec(Args(ids, attention_mask=mask))["proj"], acts["proj"])
    rows = {row.name: row for row in list_layers(model, Args(ids, attention_mask=mask))}
    assert rows["proj"].shape == (1, 3, 2)
    from layerscope import diagnose

    result = diagnose(Scaled(), [Args(ramp_input(), scale=2.0), Args(ramp_input(), scale=-1.0)])
    assert result.inputs == 2 and [layer.name for layer in result.layers] == ["conv"]
    assert result["conv"].channels_summary.max.tolist() == [48.0, 3.0]  # the scale reached the forward


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = hand_conv()

    def forward(self, x, scale=1.0):
        return self.conv(x * scale)


class InnerOptimisation(nn.Module):
    """A forward that needs autograd itself (one gradient step on its input)."""

    def __init__(self):
        super().__init__()
        self.conv = hand_conv()

    def forward(self, x):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.conv(x).sum(), x)
        return self.conv(x - 0.1 * grad)


def test_a_forward_that_needs_autograd_says_so_and_works_with_grad_true():
    with pytest.raises(ForwardError, match=r"need autograd.*torch\.no_grad\(\).*grad=True"):
        capture(InnerOptimisation(), ramp_input())
    acts = capture(InnerOptimisation(), ramp_input(), grad=True)
    assert list(acts) == ["conv", "conv#1"] and torch.equal(acts["conv"], CONV_ON_RAMP)


def test_grad_true_keeps_captures_in_the_graph():
    model = nn.Sequential(hand_conv(), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(8, 3))
    acts = capture(model, ramp_input(), ["0", "3"], grad=True)
    assert acts["0"].grad_fn is not None and acts.output.grad_fn is not None
    assert acts.protected == {"0"} and torch.equal(acts["0"], CONV_ON_RAMP)
    (grad,) = torch.autograd.grad(acts["3"][0, 0], model[3].weight)
    assert grad.shape == model[3].weight.shape
    assert all(p.grad is None for p in model.parameters())


class Sometimes(nn.Module):
    """Writes the conv output in place only for positive inputs: data-dependent control flow."""

    def __init__(self):
        super().__init__()
        self.conv = hand_conv()

    def forward(self, x):
        out = self.conv(x)
        if x.sum() > 0:
            out.mul_(-1)
        return out


def test_an_unforeseen_write_reruns_the_forward_and_learns():
    model = Sometimes()
    forget(model)
    with Recorder(model, "conv") as rec:
        assert torch.equal(rec(-ramp_input())["conv"], model.conv(-ramp_input()).detach())
        assert rec.plan == frozenset() and rec.reruns == 0
        acts = rec(ramp_input())
        assert torch.equal(acts["conv"], CONV_ON_RAMP) and acts.protected == {"conv"}
        assert rec.reruns == 1 and rec.plan == {"conv"}
        assert torch.equal(rec(ramp_input())["conv"], CONV_ON_RAMP) and rec.reruns == 1


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "mobilenet_v3_small"])
def test_every_call_is_bit_equal_to_hooks_that_clone(name):
    """The independent oracle: plain hooks that clone every output, on several inputs in a row."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Hardswish)
    layers = [n for n, m in model.named_modules() if isinstance(m, kinds) and not n.endswith("relu")]  # resnet's relu runs twice
    forget(model)
    with Recorder(model, layers) as rec:
        first = None
        for seed in range(3):
            x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
            got, expected = rec(x), _cloned(model, layers, x)
            assert list(got) == list(expected)
            assert all(torch.equal(got[k], expected[k]) for k in expected)
            first = rec.reruns if first is None else first
        assert rec.reruns == first <= 1 and rec.plan  # learned on the first call, at most one rerun


def test_writes_by_inplace_modules_are_caught_at_once_and_others_learned_with_one_rerun():
    vgg = torchvision.models.vgg11().eval()
    convs = [n for n, m in vgg.named_modules() if isinstance(m, nn.Conv2d)]
    forget(vgg)
    with Recorder(vgg, convs) as rec:
        rec(torch.randn(1, 3, 32, 32))
        assert rec.reruns == 0 and rec.plan == set(convs)  # copied just before each ReLU(inplace=True) ran
    resnet = torchvision.models.resnet18().eval()
    forget(resnet)
    with Recorder(resnet, ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.bn2"]) as rec:
        acts = rec(torch.randn(1, 3, 32, 32))  # bn1: before the in-place ReLU; bn2: `out += identity`, a rerun
        assert rec.reruns == 1 and rec.plan == {"layer1.0.bn1", "layer1.0.bn2"}
        block = resnet.layer1[0]
        assert torch.equal(acts["layer1.0.bn2"], block.bn2(block.conv2(acts["layer1.0.bn1"].relu())))
    with Recorder(resnet, ["layer1.0.bn2", "layer1.0.conv2"]) as rec:  # another layer set: bn2 is known
        rec(torch.randn(1, 3, 32, 32))
        assert rec.reruns == 0 and rec.plan == {"layer1.0.bn2"}
    model = Residual()
    with Recorder(model, ["conv"]) as rec:  # `out += ...` between modules: learned by a rerun
        acts = rec(ramp_input())
        assert rec.reruns == 1 and rec.plan == {"conv"} and torch.equal(acts["conv"], CONV_ON_RAMP)
    with Recorder(model, ["conv", "head"]) as rec:
        rec(ramp_input())
        assert rec.reruns == 0 and rec.plan == {"conv"}


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = hand_conv()
        self.head = nn.Flatten()

    def forward(self, x):
        out = self.conv(x)
        out += x.mean()
        return self.head(out)


def _cloned(model: nn.Module, layers: list[str], x: torch.Tensor) -> dict:
    store, modules, handles = {}, dict(model.named_modules()), []
    def keep(name):
        def hook(module, args, output):  # returns None: a hook that returns a value replaces the output
            store[name] = output.clone()

        return hook

    for name in layers:
        handles.append(modules[name].register_forward_hook(keep(name)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return store
