"""Monitor: logs on the right steps, the numbers of diagnose, and a model that trains exactly as without it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import layerscope as ls
from layerscope.errors import InputError, LayerNotFoundError
from layerscope.render import render_grids
from layerscope.train import FolderSink, Monitor


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout(0.3), nn.Conv2d(6, 8, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 12 * 12, 3))


def _data(seed: int = 0, n: int = 8, size: int = 16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, size, size, generator=g), torch.randint(0, 3, (n,), generator=g)


def _train(model: nn.Module, steps: int, monitor=None) -> nn.Module:
    torch.manual_seed(1)  # dropout masks come from the global generator: a monitor must not draw from it
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for step in range(steps):
        x, y = _data(step)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if monitor is not None:
            monitor.step()
            assert model.training and all(m.training for m in model.modules())
            assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    return model


def test_training_with_the_monitor_is_bit_for_bit_training_without_it():
    plain = _train(_net(), 6)
    watched = _net()
    monitor = Monitor(watched, ["0", "4", "7"], every=2, inputs=_data(99, n=3)[0])
    _train(watched, 6, monitor)
    assert [e["step"] for e in monitor.history] == [0, 2, 4]
    for (name, a), b in zip(plain.state_dict().items(), watched.state_dict().values()):
        assert torch.equal(a, b), name  # weights, BatchNorm running statistics and its step counter


def test_a_log_between_backward_and_step_leaves_the_gradients():
    model = _net().train()
    x, y = _data()
    F.cross_entropy(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    Monitor(model, every=1, inputs=x[:2]).step()
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))


def test_steps_counted_or_given_and_a_forced_log():
    monitor = Monitor(_net(), every=5, inputs=_data(n=2)[0])
    logged = [s for s in range(12) if monitor.step() is not None]
    assert logged == [0, 5, 10]
    assert monitor.step(20) is not None and monitor.step(21) is None and monitor.step() is None  # 22
    assert monitor.log(23).step == 23
    assert [e["step"] for e in monitor.history] == [0, 5, 10, 20, 23]


def test_the_numbers_are_those_of_diagnose_on_the_probe_batch():
    model = _net().eval()
    with torch.no_grad():  # plant two dead channels in the second conv
        model[4].weight[:2] = 0
        model[4].bias[:2] = -1
    probe = _data(5, n=4)[0]
    entry = Monitor(model, ["0", "4"], inputs=probe).step()
    expected = ls.diagnose(model, probe, ["0", "4"], channel_order=False, effective_rank=True)  # the Monitor logs the rank
    for layer in expected.layers:
        numbers = entry.layers[layer.name].numbers
        assert numbers["dead"] == layer.shares["dead"] and numbers["scale"] == layer.scale
        assert numbers["effective_rank"] == layer.effective_rank and entry.layers[layer.name].verdict == layer.verdict
    assert entry.layers["4"].numbers["dead"] == 2 / 8
    assert entry.tendency == expected.tendency.label and entry.tendency_score == expected.tendency.score


def test_grids_of_every_probe_input_and_a_histogram_of_every_value():
    model = _net().eval()
    probe = _data(n=3)[0]
    monitor = Monitor(model, ["0", "7"], inputs=probe)
    entry = monitor.step()
    with torch.no_grad():
        conv = model[0](probe)
    expected = render_grids(conv, monitor.render, layer="0")
    assert [g.indices.tolist() for g in entry.layers["0"].grids] == [g.indices.tolist() for g in expected]
    histogram = entry.layers["0"].histogram
    assert histogram.counts.sum() == conv.numel() and histogram.edges[0, 0] == pytest.approx(conv.min().item())
    assert len(entry.layers["7"].grids) == 3  # the Linear's vectors as strips


def test_probe_images_go_through_the_models_preprocessing(tmp_path):
    files = ls.zoo.write_sample_images(tmp_path / "digits", count=4, photos=())
    loaded = ls.load_model("builtin:digits")
    monitor = Monitor(loaded, ["conv1", "conv2"], inputs=[str(f) for f in files])
    assert tuple(monitor.probe.shape) == (4, 1, 28, 28) and monitor.model is loaded.module
    assert monitor.step().tendency == "trained"
    bare = Monitor(loaded.module, "conv1", inputs=[str(files[0])])  # a bare module: ImageNet sizes, assumed
    assert tuple(bare.probe.shape) == (1, 1, 224, 224)


def test_a_torchvision_model_in_training_mode_keeps_its_batchnorm_statistics():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4).train()
    before = copy.deepcopy(model.state_dict())
    monitor = Monitor(model, ["conv1", "layer1.0.conv1", "layer4.0.conv1"], inputs=torch.randn(2, 3, 64, 64))
    entry = monitor.step()
    assert sorted(entry.layers) == ["conv1", "layer1.0.conv1", "layer4.0.conv1"] and model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"every": 0}, InputError, "every must be an int >= 1, got 0"),
    ({"bins": "10"}, InputError, "bins must be an int >= 1"),
    ({"layers": "conv"}, LayerNotFoundError, "conv"),
    ({"sink": "runs/x"}, InputError, r"sink must be a FolderSink, a TensorBoardSink, a SummaryWriter .* got str"),
    ({"inputs": torch.zeros(0, 1, 8, 8)}, InputError, r"inputs must be a probe batch \(N, C, H, W\)"),
])
def test_bad_arguments_are_refused_with_the_fix(kwargs, error, match):
    call = {"inputs": _data(n=2)[0], **kwargs}
    with pytest.raises(error, match=match):
        Monitor(_net(), **call)


def test_the_model_must_be_the_module_being_trained():
    with pytest.raises(InputError, match=r"Monitor watches the nn.Module being trained \(or its LoadedModel\), got str"):
        Monitor("builtin:digits", inputs=torch.zeros(1, 1, 28, 28))


def test_history_is_plain_json_numbers(tmp_path):
    monitor = Monitor(_net(), ["0"], inputs=_data(n=2)[0], sink=FolderSink(tmp_path / "run"))
    monitor.step()
    record = monitor.history[0]
    assert set(record) == {"step", "tendency", "tendency_score", "layers", "notes"}
    assert len(record["layers"]["0"]["histogram"]["counts"]) == 64
    assert np.isclose(sum(record["layers"]["0"]["histogram"]["counts"]), 2 * 6 * 14 * 14)


def test_monitor_options_object_and_keywords_agree():
    from layerscope.render import RenderOptions
    from layerscope.train import MonitorOptions

    render = RenderOptions(max_channels=4, normalize="layer")
    by_object = Monitor(_net(), ["0"], inputs=_data(n=2)[0], options=MonitorOptions(every=3, bins=8, render=render))
    by_keywords = Monitor(_net(), ["0"], inputs=_data(n=2)[0], every=3, bins=8, render=render)
    assert by_object.options == by_keywords.options and by_object.every == 3 and by_object.render is render
    assert Monitor(_net(), ["0"], inputs=_data(n=2)[0], options=render).render is render  # the older form
    assert [by_object.step() is not None for _ in range(4)] == [True, False, False, True]
    assert len(by_object.history[0]["layers"]["0"]["histogram"]["counts"]) == 8
