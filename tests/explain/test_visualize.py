"""explain/visualize.py: hand-set filters whose preferred images are known, determinism, the model left alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from layerscope import Preprocessing
from layerscope.errors import InputError
from layerscope.explain import visualize

SMALL = Preprocessing(resize=48, crop=(48, 48))


def detectors() -> nn.Sequential:
    """Channel 0: a horizontal edge (Sobel across rows, on all colours); channel 1: red, not green or blue.

    Both rectified (a ReLU follows), so the edge channel gains from every edge of its sign: stripes.
    The colour channel's bias keeps it active on a grey start.
    """
    conv = nn.Conv2d(3, 2, 3)
    sobel = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0] = sobel / 3.0
        conv.weight[1, 0, 1, 1], conv.weight[1, 1, 1, 1], conv.weight[1, 2, 1, 1] = 1.0, -0.5, -0.5
        conv.bias.copy_(torch.tensor([0.0, 0.5]))
    return nn.Sequential(conv, nn.ReLU())


@pytest.fixture(scope="module")
def optimized():
    return visualize(detectors(), "1", channels=[0, 1], steps=128, seed=0, preprocessing=SMALL)


def test_the_objective_rises_on_average(optimized):
    curves = optimized.curves  # (steps, 2); each step sees another random jitter, so single steps wobble
    smoothed = curves.unfold(0, 8, 8).mean(-1).T  # (2, windows): means of 8-step windows
    steps = torch.arange(smoothed.shape[1], dtype=torch.float32)
    for row in smoothed:
        assert float(torch.corrcoef(torch.stack([steps, row]))[0, 1]) > 0.8  # rising, on average
        assert float(row[-1]) > 3 * float(row[0])


def test_the_edge_channel_prefers_horizontal_stripes(optimized):
    image = torch.as_tensor(optimized.pixels[0]).float().mean(-1)  # gray (H, W)
    across_rows = (image[1:] - image[:-1]).abs().mean()
    across_columns = (image[:, 1:] - image[:, :-1]).abs().mean()
    assert float(across_rows) > 1.5 * float(across_columns)


def test_the_colour_channel_prefers_red(optimized):
    red, green, blue = torch.as_tensor(optimized.pixels[1]).float().mean((0, 1)).tolist()
    assert red > green + 50 and red > blue + 50


def test_images_are_in_the_model_input_space_and_raise_the_channel(optimized):
    model = detectors()
    with torch.no_grad():
        on_images = model(optimized.images).mean((2, 3))
        on_grey = model(torch.zeros(2, 3, 48, 48)).mean((2, 3))
    assert optimized.images.shape == (2, 3, 48, 48)
    assert float(on_images[0, 0]) > float(on_grey[0, 0]) + 0.5 and float(on_images[1, 1]) > float(on_grey[1, 1]) + 0.5


def test_deterministic_with_a_seed():
    first = visualize(detectors(), "0", channels=[1], steps=6, seed=3, preprocessing=SMALL)
    again = visualize(detectors(), "0", channels=[1], steps=6, seed=3, preprocessing=SMALL)
    other = visualize(detectors(), "0", channels=[1], steps=6, seed=4, preprocessing=SMALL)
    assert torch.equal(first.images, again.images) and torch.equal(first.curves, again.curves)
    assert not torch.equal(first.images, other.images)


def test_negative_objective_lowers_the_channel():
    result = visualize(detectors(), "0", channels=[1], objective="channel", negative=True, steps=40, seed=0,
                       preprocessing=SMALL, transforms=False)
    assert float(result.curves[-1, 0]) < float(result.curves[0, 0])


class Interrupting(nn.Module):
    """Raises KeyboardInterrupt on its fifth forward, like a user pressing Ctrl-C mid-optimization."""

    def __init__(self):
        super().__init__()
        self.body = detectors()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 5:
            raise KeyboardInterrupt
        return self.body(x)


def test_the_model_is_left_as_it_was_also_when_interrupted():
    model = Interrupting().train()
    flags = [p.requires_grad for p in model.parameters()]
    with pytest.raises(KeyboardInterrupt):
        visualize(model, "body.0", channels=[0], steps=10, preprocessing=SMALL)
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags and all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    visualize(model, "body.0", channels=[0], steps=3, preprocessing=SMALL)
    assert all(p.grad is None for p in model.parameters()) and model.training


@pytest.mark.parametrize(
    "kwargs, match",
    [({"channels": [5]}, r"channels \[5\] out of range: the layer has 2 channels"),
     ({"objective": "chanel"}, r"Unknown objective 'chanel'. Did you mean 'channel'"),
     ({"objective": "direction"}, "needs direction=")],
)
def test_bad_requests_are_input_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        visualize(detectors(), "0", steps=2, preprocessing=SMALL, **kwargs)


def test_direction_and_neuron_objectives_run():
    direction = visualize(detectors(), "0", objective="direction", direction=torch.tensor([1.0, -1.0]), channels=[0],
                          steps=20, preprocessing=SMALL, transforms=False)
    neuron = visualize(detectors(), "0", objective="neuron", channels=[1], steps=20, preprocessing=SMALL)
    assert float(direction.curves[-1, 0]) > float(direction.curves[0, 0])
    assert float(neuron.curves[-5:].mean()) > float(neuron.curves[:5].mean())


def test_options_object_and_keywords_agree_and_the_result_saves_under_the_output_folder_rule(tmp_path):
    import json

    from layerscope.explain import VisualizeOptions
    from layerscope.run import Subject

    options = VisualizeOptions(steps=3, seed=2, transforms=False)
    by_options = visualize(Subject.of(detectors(), preprocessing=SMALL), "0", [1], options=options)
    by_keywords = visualize(detectors(), "0", [1], steps=3, seed=2, transforms=False, preprocessing=SMALL)
    assert torch.equal(by_options.curves, by_keywords.curves)
    assert by_options.summary().startswith("0: 1 channel(s) [1] optimized for channel, 3 steps")
    out = by_options.save(tmp_path / "viz")
    index = json.loads((out / "index.json").read_text())
    assert index["files"] == ["channel-1.png", "channels.png"] and index["steps"] == 3 and index["model"]["spec"]
    assert by_options.save(out) == out  # a rerun replaces its own files
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "channels.png").write_bytes(b"mine")
    with pytest.raises(InputError, match="channels.png, which layerscope did not write there"):
        by_options.save(tmp_path / "photos")
    assert (tmp_path / "photos" / "channels.png").read_bytes() == b"mine"
