"""explain/ranking.py through ``layerscope.show(rank="importance")`` and the ``importance`` view, on real models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope import importance, show
from layerscope.errors import InputError
from layerscope.render.overlays import overlay
from layerscope.render.views import seen_images

RESNET_LAYERS = ["layer1.0.conv1", "layer3.1.conv2"]



@pytest.fixture()
def digits(tmp_path):
    from layerscope.zoo import sample_inputs

    pictures, _ = sample_inputs("digits")
    for i in range(3):
        Image.fromarray(pictures[i]).save(tmp_path / f"digit{i}.png")
    return sorted(str(p) for p in tmp_path.glob("digit*.png"))


def _shown_order(result, item: int, layer: str) -> list[int]:
    return result.inputs[item]["grids"][layer]["channels"]


def _argsort(scores: torch.Tensor, k: int) -> list[int]:
    return np.argsort(-scores.numpy(), kind="stable")[:k].tolist()


@pytest.mark.parametrize("target", [None, 7], ids=["top-prediction", "class7"])
@pytest.mark.parametrize("layer", RESNET_LAYERS)
@pytest.mark.parametrize("item", [0, 1])
def test_resnet_grid_order_is_the_argsort_of_importance(resnet, images, target, layer, item):
    result = show(resnet, images, RESNET_LAYERS, rank="importance", target=target, max_channels=12)
    expected = importance(resnet, images, RESNET_LAYERS, target=target)
    assert _shown_order(result, item, layer) == _argsort(expected[layer][item], 12)
    assert result.inputs[item]["importance_target"] == int(expected.target[item])


@pytest.mark.parametrize("target", ["3", 3, None], ids=["name", "index", "top"])
def test_digits_from_a_spec_by_class_name_or_index(digits, tmp_path, target):
    result = show("builtin:digits", digits, None, tmp_path / "o", rank="importance", target=target, max_channels=0)
    expected = importance("builtin:digits", digits, ["conv1", "conv2"], target=None if target is None else 3)
    for layer in ("conv1", "conv2"):
        for item in range(3):
            assert _shown_order(result, item, layer) == _argsort(expected[layer][item], 99)
    index = json.loads((tmp_path / "o" / "index.json").read_text())
    assert [entry["importance_target"] for entry in index["inputs"]] == expected.target.tolist()


def _independent_heat(model, x, layer: str, target: int, k: int) -> torch.Tensor:
    """Grad-CAM of the top-k channels by gradient x activation, with a plain hook and autograd."""
    kept = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, a, out: kept.setdefault("a", out))
    try:
        x = x.clone()
        out = model(x)
        grad = torch.autograd.grad(out[:, target].sum(), kept["a"])[0]
    finally:
        handle.remove()
    act = kept["a"].detach()
    score = (grad * act).sum((2, 3))
    weights = grad.mean((2, 3))
    top = score.argsort(dim=1, descending=True)[:, :k]
    mask = torch.zeros_like(weights).scatter_(1, top, 1.0)
    return torch.relu(((weights * mask)[:, :, None, None] * act).sum(1))


@pytest.mark.parametrize("item", [0, 1])
def test_importance_view_is_the_grad_cam_of_the_top_channels_over_the_seen_image(resnet, images, item):
    layer, k = "layer3.1.conv2", 6
    result = show(resnet, images, [layer], views=("importance",), target=5, max_channels=k)
    picture = result.inputs[item]["views"]["importance"][layer]
    heat = _independent_heat(resnet, images, layer, 5, k)[item]
    seen = seen_images(images, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))[item]
    expected = overlay(seen, heat, image_weight=0.45)  # 64 px: enlarged x3 (nearest) to the views' 160 px minimum
    expected = np.repeat(np.repeat(expected, 3, axis=0), 3, axis=1)
    left = (picture.shape[1] - expected.shape[1]) // 2
    body = picture[-expected.shape[0]:, left : left + expected.shape[1]]
    assert np.abs(body.astype(int) - expected.astype(int)).max() <= 1  # float sums in another order


def test_rank_leaves_the_plain_show_unchanged(resnet, images):
    plain = show(resnet, images, RESNET_LAYERS, max_channels=8)
    assert _shown_order(plain, 0, RESNET_LAYERS[0]) == list(range(8)) and "importance_target" not in plain.inputs[0]


@pytest.mark.parametrize("target, match", [
    ("tabby", "class names are unknown; give a class index"),
    (1000, "does not fit an output of 1000 classes.*give one class index"),
    (-1, "not a class of this model"),
    (2.5, "must be a class index or a class name"),
])
def test_bad_targets_on_a_model_without_class_names(resnet, images, target, match):
    with pytest.raises(InputError, match=match):
        show(resnet, images, RESNET_LAYERS, rank="importance", target=target)


@pytest.mark.parametrize("target, match", [
    ("three", r"not one of this model's 10 classes.* Give a class name \(e.g. '0'\) or an index 0..9"),
    ("10", r"give 0..9"),
])
def test_bad_targets_on_a_model_with_class_names(digits, target, match):
    with pytest.raises(InputError, match=match):
        show("builtin:digits", digits, None, rank="importance", target=target)


@pytest.mark.parametrize("fields, match", [
    ({"rank": "importnce"}, "Did you mean 'importance'"),
    ({"rank": "importance", "order": "max"}, r"order='max' would order them too"),
    ({"rank": "importance", "channels": [1, 0]}, r"channels=\[1, 0\] would order them too"),
])
def test_bad_rank_requests(resnet, images, fields, match):
    with pytest.raises(InputError, match=match):
        show(resnet, images, RESNET_LAYERS, **fields)
