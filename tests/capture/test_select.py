import pytest
import torch.nn as nn
import torchvision

from layerscope.capturing import select_layers
from layerscope.errors import InputError, LayerNotFoundError


@pytest.fixture(scope="module")
def resnet():
    return torchvision.models.resnet18(weights=None)


def test_default_selects_the_stem_activation_and_the_block_outputs(resnet):
    # torchvision's BasicBlock calls its one `relu` twice (after bn1, after the residual sum): read the block
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert select_layers(resnet) == ["relu", *blocks]


def test_convs_selects_every_convolution(resnet):
    names = select_layers(resnet, "convs")
    assert len(names) == 20 and names == select_layers(resnet, "type:Conv2d")
    assert names[0] == "conv1" and names[-1] == "layer4.1.conv2"


def test_convs_is_a_name_first():
    model = nn.Sequential()
    model.add_module("convs", nn.Conv2d(1, 1, 1))
    model.add_module("conv", nn.Conv2d(1, 1, 1))
    assert select_layers(model, "convs") == ["convs"]


def test_default_falls_back_to_leaves_without_convolutions():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
    assert select_layers(model) == ["0", "1.0", "1.1"]


def test_bare_module_captures_itself():
    assert select_layers(nn.Conv2d(1, 1, 1)) == [""]


@pytest.mark.parametrize(
    "selector, expected",
    [
        ("layer1.0.conv1", ["layer1.0.conv1"]),
        ("layer4.*.conv1", ["layer4.0.conv1", "layer4.1.conv1"]),
        (r"re:layer[34]\.0\.downsample\.0", ["layer3.0.downsample.0", "layer4.0.downsample.0"]),
        ("type:AdaptiveAvgPool2d", ["avgpool"]),
        ("type:torch.nn.modules.linear.Linear", ["fc"]),
        (["fc", "conv1"], ["conv1", "fc"]),
        ("fc,conv1", ["conv1", "fc"]),
    ],
)
def test_selector_forms(resnet, selector, expected):
    assert select_layers(resnet, selector) == expected


def test_all_is_every_leaf(resnet):
    names = select_layers(resnet, "all")
    assert "layer1" not in names and "layer1.0.relu" in names and "fc" in names


def test_unknown_name_suggests_close_matches(resnet):
    with pytest.raises(LayerNotFoundError, match=r"'layer1\.0\.conv3'.*Did you mean 'layer1\.0\.conv2'.*layerscope layers"):
        select_layers(resnet, "layer1.0.conv3")


def test_unknown_type_lists_close_types(resnet):
    with pytest.raises(LayerNotFoundError, match=r"No module type matches 'Conv'.*Conv2d"):
        select_layers(resnet, "type:Conv")


def test_glob_matching_nothing_raises(resnet):
    with pytest.raises(LayerNotFoundError, match=r"'features\.\*'"):
        select_layers(resnet, "features.*")


def test_bad_regex_is_an_input_error(resnet):
    with pytest.raises(InputError, match="invalid"):
        select_layers(resnet, "re:layer[")


def test_empty_selector_is_an_input_error(resnet):
    with pytest.raises(InputError, match="non-empty"):
        select_layers(resnet, [""])


def test_aliased_module_is_selectable_by_either_name():
    model = nn.Sequential()
    model.a = nn.Conv2d(1, 1, 1)
    model.b = model.a
    assert select_layers(model, "b") == ["b"]
    assert select_layers(model, ["a", "b"]) == ["a"]  # one hook per module object


@pytest.mark.parametrize("layers", [3, [], ()])
def test_non_selector_is_an_input_error(resnet, layers):
    with pytest.raises(InputError, match="selects nothing"):
        select_layers(resnet, layers)
