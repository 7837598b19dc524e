"""Every torchvision classification model captures its convolutions (random init, smallest input)."""

import pytest
import torch
import torchvision

from layerscope import capture
from layerscope.capturing import select_layers

MODELS = torchvision.models.list_models(module=torchvision.models)
# the smallest square input each family accepts (default 32)
MIN_SIZE = {"alexnet": 64, "inception_v3": 75, "maxvit_t": 224}


def _build(name):
    kwargs = {}
    if name.startswith("vit_"):
        kwargs["image_size"] = 28 if name.endswith("_14") else 32
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True  # silences torchvision's FutureWarning; same architecture
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    return model, kwargs.get("image_size", MIN_SIZE.get(name, 32))


def test_sweep_covers_the_classification_zoo():
    assert len(MODELS) >= 70


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_every_classifier_captures_its_convolutions(name):
    torch.manual_seed(0)
    model, size = _build(name)
    convs = select_layers(model)
    acts = capture(model, torch.randn(1, 3, size, size))
    captured = {info.module for info in acts.info.values()}
    assert captured <= set(convs)
    assert len(captured) >= 0.9 * len(convs)  # a few (aux heads) do not run in eval mode
    assert all(t.shape[0] == 1 for t in acts.values())
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
