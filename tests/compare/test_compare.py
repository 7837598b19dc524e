"""layerscope.compare on real torchvision architectures (random init), hand-set models and image files."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

import layerscope as ls
from layerscope.comparison import HSICSums
from layerscope.errors import ForwardError, InputError, LayerNotFoundError


def _images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random images (blurred noise), closer to photos than white noise."""
    x = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2) * 3


def _resnet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def resnets():
    return _resnet(0), _resnet(1)


LAYERS = ["conv1", "layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.1.conv2", "fc"]


def test_a_model_compared_with_itself_is_identical_on_every_layer(resnets):
    model = resnets[0]
    result = ls.compare(model, model, _images(8), LAYERS)
    assert [p.layer_a for p in result.pairs] == LAYERS
    for pair in result.pairs:
        assert pair.cka == pytest.approx(1.0, abs=1e-9) and pair.cosine == pytest.approx(1.0, abs=1e-9)
        assert pair.rel_l2 == 0.0 and pair.match.moved == []
    np.testing.assert_allclose(np.diag(result.matrix), 1.0, atol=1e-9)


def test_a_trained_model_and_its_untrained_copy_clearly_differ():
    digits = ls.zoo.sample_inputs("digits")[0]
    from layerscope.zoo.digits import to_tensor

    result = ls.compare("builtin:digits", "builtin:digits:untrained", to_tensor(digits), ["conv1", "conv2", "fc1", "fc3"])
    for pair in result.pairs:
        assert pair.rel_l2 > 0.5 and pair.cosine < 0.8
    assert result["fc3"].cka < 0.6 and np.mean([p.cka for p in result.pairs]) < 0.85
    assert [p.layer_a for p in result.ranking()][:2] == ["fc3", "fc1"]


def test_two_random_inits_differ_most_in_the_deep_layers(resnets):
    result = ls.compare(*resnets, _images(12), LAYERS)
    assert result["layer4.1.conv2"].cka < 0.9 and result["conv1"].cka > result["layer4.1.conv2"].cka
    assert all(p.rel_l2 > 0.5 for p in result.pairs)


def _permuted_vgg(perm: list[int]) -> tuple[nn.Module, nn.Module]:
    """vgg11 and a copy whose features.0 output channels (and features.3 input channels) are permuted."""
    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None).eval()
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.features[0].weight.copy_(model.features[0].weight[perm])
        other.features[0].bias.copy_(model.features[0].bias[perm])
        other.features[3].weight.copy_(model.features[3].weight[:, perm])
    return model, other


def test_matched_channels_recover_a_known_permutation_of_filters():
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(3)).tolist()
    model, other = _permuted_vgg(perm)
    x = _images(6)
    assert torch.allclose(model(x), other(x), atol=1e-4)  # the same function
    result = ls.compare(model, other, x, ["features.0", "features.3"])
    match = result["features.0"].match
    assert [perm[j] for j in match.b] == match.a.tolist()  # B's channel j is A's channel perm[j]
    assert result["features.0"].cka == pytest.approx(1.0, abs=1e-6) and result["features.0"].cosine < 0.9
    assert result["features.3"].rel_l2 < 1e-5 and result["features.3"].match.moved == []


def test_two_architectures_with_explicit_pairs_rectangular_match_and_the_full_heat_map(resnets):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg11(weights=None).eval()
    pairs = {"conv1": "features.0", "layer1.0.conv1": "features.3"}
    result = ls.compare(resnets[0], vgg, _images(8), pairs=pairs)
    assert [(p.layer_a, p.layer_b) for p in result.pairs] == list(pairs.items())
    assert result.matrix.shape == (2, 2) and result.layers_b == ["features.0", "features.3"]
    assert result["conv1"].cosine is None and result["conv1"].rel_l2 is None  # shapes differ
    match = result["layer1.0.conv1"].match
    assert match.matrix.shape == (64, 128) and len(match.a) == 64 and len(set(match.b.tolist())) == 64
    assert any("average-pooled" in note for note in result.notes)


def test_two_architectures_share_layers_by_name_when_not_paired(resnets):
    torch.manual_seed(0)
    resnet34 = torchvision.models.resnet34(weights=None).eval()
    result = ls.compare(resnets[0], resnet34, _images(6), ["conv1", "layer1.0.conv1", "layer4.0.conv1"],
                        layers_b=["conv1", "layer1.0.conv1", "layer1.2.conv1", "layer4.0.conv1"], match=False)
    assert [p.layer_a for p in result.pairs] == ["conv1", "layer1.0.conv1", "layer4.0.conv1"]
    assert result.matrix.shape == (3, 4) and all(p.match is None for p in result.pairs)


def test_one_model_on_two_input_sets(resnets):
    x = _images(8)
    same = ls.compare(resnets[0], inputs=x, inputs_b=x.clone(), layers=["conv1", "layer4.1.conv2"])
    flipped = ls.compare(resnets[0], inputs=x, inputs_b=x.flip(-1), layers=["conv1", "layer4.1.conv2"])
    other = ls.compare(resnets[0], inputs=x, inputs_b=_images(8, seed=9), layers=["conv1", "layer4.1.conv2"])
    assert same["layer4.1.conv2"].cka == pytest.approx(1.0, abs=1e-9) and "second input set" in same.notes[0]
    # a flip is an orthogonal map of the pixels: the inputs' Gram matrix, and so conv1's CKA, barely move,
    # while the maps themselves do; unrelated inputs are unrelated everywhere
    assert flipped["conv1"].cka > 0.95 and flipped["conv1"].cosine < 0.5
    assert other["conv1"].cka < 0.5 and other["layer4.1.conv2"].cka < 0.5
    with pytest.raises(InputError, match="The two input sets differ in size"):
        ls.compare(resnets[0], inputs=x, inputs_b=x[:6], layers="conv1", batch_size=4)


def test_the_cka_takes_blocks_of_inputs_whatever_the_batches():
    torch.manual_seed(0)
    a, b = nn.Sequential(nn.Conv2d(3, 4, 3)), nn.Sequential(nn.Conv2d(3, 4, 3))
    x = _images(13, size=8)
    with torch.no_grad():
        fa, fb = a(x), b(x)
    by_5, by_13 = ls.compare(a, b, x, batch_size=5), ls.compare(a, b, x, batch_size=13)  # batches 5, 5, 3 and 13
    assert by_5.inputs == by_13.inputs == 13
    assert by_5["0"].cka == pytest.approx(by_13["0"].cka, abs=1e-12)
    assert by_5["0"].cka == pytest.approx(HSICSums(1, 1).update([fa], [fb]).result()[0, 0], rel=1e-9)
    blocks = ls.compare(a, b, x, batch_size=3, block=4)  # blocks 4, 4 and 5: a short tail joins the block before
    with torch.no_grad():  # the features as computed in batches of 3 (float32 convolutions round by batch size)
        fa, fb = torch.cat([a(part) for part in x.split(3)]), torch.cat([b(part) for part in x.split(3)])
    expected = HSICSums(1, 1).update([fa[:4]], [fb[:4]]).update([fa[4:8]], [fb[4:8]]).update([fa[8:]], [fb[8:]])
    assert blocks["0"].cka == pytest.approx(expected.result()[0, 0], rel=1e-9)


def test_image_files_go_through_each_models_preprocessing(tmp_path):
    files = ls.zoo.write_sample_images(tmp_path / "digits", count=6, photos=())
    result = ls.compare("builtin:digits", "builtin:digits:untrained", [str(f) for f in files])
    assert result.inputs == 6 and [p.layer_a for p in result.pairs] == ["conv1", "conv2"]
    assert result.a["spec"] == "builtin:digits" and result.b["weights"] is None


def test_hooks_are_removed_and_modes_kept_even_when_a_forward_raises(resnets):
    model = resnets[0].train()
    broken = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(2, 2))  # the Linear fails on maps
    try:
        with pytest.raises(ForwardError):
            ls.compare(model, broken, _images(4), pairs={"conv1": "0"})
        assert model.training and all(m.training for m in model.modules())
        assert not any(m._forward_hooks for m in [*model.modules(), *broken.modules()])
    finally:
        model.eval()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"b": None}, InputError, "Nothing to compare: give a second model"),
    ({"inputs": None}, InputError, "compare needs inputs"),
    ({"inputs": torch.zeros(3, 3, 8, 8)}, InputError, "CKA needs at least 4"),
    ({"layers": "conv9"}, LayerNotFoundError, "conv9"),
    ({"pairs": {"0": "2"}}, LayerNotFoundError, "'2'"),
    ({"pairs": [("0",)]}, InputError, "pairs must map layer names of model a"),
    ({"match": ["nope"]}, InputError, r"match=\['nope'\] names no compared layer"),
])
def test_bad_calls_are_refused_with_the_fix(kwargs, error, match):
    torch.manual_seed(0)
    a, b = nn.Sequential(nn.Conv2d(3, 4, 3)), nn.Sequential(nn.Conv2d(3, 4, 3))
    call = {"a": a, "b": b, "inputs": _images(6, size=8), **kwargs}
    with pytest.raises(error, match=match):
        ls.compare(**call)


def test_models_without_a_common_layer_need_pairs():
    a = nn.Sequential(nn.Conv2d(3, 4, 3))
    b = nn.Sequential(nn.Identity(), nn.Conv2d(3, 4, 3))
    with pytest.raises(InputError, match=r"share no captured layer name .* pairs=\{'layer_of_a': 'layer_of_b'\}"):
        ls.compare(a, b, _images(6, size=8))


def test_subjects_and_option_objects_give_the_same_comparison_as_models_and_keywords():
    from layerscope.comparison import CompareOptions
    from layerscope.run import RunOptions, Subject

    torch.manual_seed(0)
    a, b = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)), nn.Sequential(nn.Conv2d(3, 4, 3))
    x = _images(10, size=8)
    old = ls.compare(a, b, x, ["0"], match=["0"], labels=("before", "after"), batch_size=5)
    new = ls.compare(Subject.of(a, ["0"]), Subject.of(b, ["0"]), x,
                     options=CompareOptions(match=["0"], labels=("before", "after")), run=RunOptions(batch_size=5))
    assert new.to_dict() == old.to_dict() and new.pairs[0].cka != 1.0
    np.testing.assert_array_equal(new.matrix, old.matrix)


def test_a_subject_compared_with_itself_has_cka_one_on_every_layer():
    from layerscope.run import RunOptions, Subject

    torch.manual_seed(0)
    subject = Subject.of(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.Flatten(),
                                       nn.Linear(6 * 4 * 4, 3)), ["0", "2", "4"])
    result = ls.compare(subject, subject, _images(9, size=8), run=RunOptions(batch_size=4))
    assert [p.layer_a for p in result.pairs] == ["0", "2", "4"]
    assert [p.cka for p in result.pairs] == pytest.approx([1.0, 1.0, 1.0], abs=1e-9)


def test_preprocessing_travels_in_the_subject_and_unknown_keywords_are_named():
    a = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(InputError, match=r"pass Subject.of\(model, preprocessing=..., layouts=...\) as a or b"):
        ls.compare(a, a, _images(6, size=8), preprocessing_b=None)
    with pytest.raises(InputError, match="unknown keyword 'debaised'. Did you mean 'debiased'"):
        ls.compare(a, a, _images(6, size=8), debaised=False)
