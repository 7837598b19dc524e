"""explain/importance.py: gradient x activation per channel, against captum as the oracle."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from layerscope.errors import InputError
from layerscope.explain import importance

captum_attr = pytest.importorskip("captum.attr", reason="captum is the oracle (pip install '.[test]')")

RESNET_LAYERS = ["conv1", "layer1.0.conv1", "layer2.1.conv2", "layer3.0.downsample.0", "layer4.1.conv2"]



def _captum(model: nn.Module, layer: str, x: torch.Tensor, target) -> torch.Tensor:
    method = captum_attr.LayerGradientXActivation(model, model.get_submodule(layer))
    attribution = method.attribute(x, target=target)
    attribution = attribution.detach()
    return attribution.flatten(2).sum(2) if attribution.dim() > 2 else attribution


@pytest.mark.parametrize("target", [0, 7, [3, 999, 500]], ids=["class0", "class7", "per-input"])
def test_equal_to_captum_layer_gradient_x_activation_summed_over_space(resnet, images, target):
    result = importance(resnet, images, layers=RESNET_LAYERS, target=target)
    for layer in RESNET_LAYERS:
        expected = _captum(resnet, layer, images, target)
        scale = float(expected.abs().max())
        torch.testing.assert_close(result[layer], expected, rtol=1e-4, atol=1e-5 * scale)


def test_layers_overwritten_in_place_get_their_true_importance():
    """VGG's conv outputs are overwritten by ReLU(inplace=True); the oracle runs a copy without in-place ops."""
    torch.manual_seed(0)
    vgg = torchvision.models.vgg11().eval()
    plain = torchvision.models.vgg11().eval()
    plain.load_state_dict(vgg.state_dict())
    for module in plain.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    layers = ["features.0", "features.3", "features.8"]
    result = importance(vgg, x, layers=layers, target=5)
    for layer in layers:
        torch.testing.assert_close(result[layer], _captum(plain, layer, x, 5), rtol=1e-4, atol=1e-6)
        assert torch.equal(result.activations[layer], plain.get_submodule(layer)(
            _input_of(plain, layer, x)).detach())


def _input_of(model: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    seen = {}
    handle = model.get_submodule(layer).register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["x"]


def test_token_model_importance_per_channel_of_a_block_output():
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16(image_size=32).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    layer = "encoder.layers.encoder_layer_3"
    result = importance(vit, x, layers=layer, target=1)
    attribution = captum_attr.LayerGradientXActivation(vit, vit.get_submodule(layer)).attribute(x, target=1).detach()
    expected = attribution[:, 1:].sum(1)  # the 2x2 patch tokens, the class token left out like the maps
    assert result.layouts[layer] == "tokens" and result[layer].shape == (2, 768)
    torch.testing.assert_close(result[layer], expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


def test_default_target_is_the_top_class_and_the_model_is_left_as_it_was(resnet, images):
    resnet.train()
    try:
        result = importance(resnet, images, layers="layer1.0.conv1")
        assert torch.equal(result.target, result.output.argmax(1))
        assert resnet.training and all(m.training for m in resnet.modules())
        assert all(p.grad is None for p in resnet.parameters())
        assert all(not m._forward_hooks for m in resnet.modules())
    finally:
        resnet.eval()


def test_weights_top_channels_and_heatmap(resnet, images):
    result = importance(resnet, images, layers="layer4.1.conv2", target=0)
    top = result.top("layer4.1.conv2", 5)
    assert top.shape == (3, 5)
    assert torch.equal(result["layer4.1.conv2"].gather(1, top), result["layer4.1.conv2"].topk(5, dim=1).values)
    heat = result.heatmap("layer4.1.conv2", k=5)
    assert heat.shape == (3, 2, 2) and bool((heat >= 0).all())


@pytest.mark.parametrize("target, match", [(1000, "1000 classes"), ([1, 2], "one per input")])
def test_a_target_that_does_not_fit_is_an_input_error(resnet, images, target, match):
    with pytest.raises(InputError, match=match):
        importance(resnet, images, layers="conv1", target=target)


def test_a_model_without_class_scores_is_an_input_error():
    with pytest.raises(InputError, match=r"classifier output \(batch, classes\)"):
        importance(nn.Conv2d(3, 2, 3), torch.rand(1, 3, 8, 8), layers=None)
