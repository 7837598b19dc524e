"""Model specs with real architectures (random init, nothing downloaded) and user factories written to tmp_path."""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest
import torch
import torch.nn as nn
from PIL import Image

from layerscope.errors import InputError, MissingDependencyError, ModelSpecError
from layerscope.io import LoadedModel, Preprocessing, load_model


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    """A uniquely named module file in tmp_path, on sys.path; removed from sys.modules afterwards."""
    name = f"user_models_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch.nn as nn

            def make():
                return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())

            def make_rgb():
                return nn.Sequential(nn.Conv2d(3, 2, 3))

            def not_a_model():
                return 42

            def broken():
                raise ValueError("bad config")

            NET = nn.Sequential(nn.Conv2d(3, 2, 1))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, path
    sys.modules.pop(name, None)


def test_torchvision_random_init():
    state = torch.random.get_rng_state()
    loaded = load_model("torchvision:resnet18")
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert type(loaded.module).__name__ == "ResNet"
    assert (loaded.spec, loaded.weights, loaded.module.training) == ("torchvision:resnet18", None, False)
    assert loaded.preprocessing.source == "ImageNet defaults (random-init torchvision model)"
    assert loaded.preprocessing.input_size == (224, 224)
    assert "random init (seed 0)" in loaded.notes


def test_torchvision_random_init_is_reproducible():
    assert _same_weights(load_model("torchvision:squeezenet1_1").module, load_model("torchvision:squeezenet1_1").module)


def test_torchvision_detection_model_random_init_downloads_no_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    loaded = load_model("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    assert type(loaded.module).__name__ == "FasterRCNN"
    assert not any(tmp_path.iterdir())


def test_unknown_torchvision_name_did_you_mean():
    with pytest.raises(ModelSpecError, match=r"Unknown torchvision model 'resnet181'\. Did you mean 'resnet18'"):
        load_model("torchvision:resnet181")


def test_bad_torchvision_weights_lists_valid_ones():
    with pytest.raises(ModelSpecError, match=r"no weights 'IMAGENET2K'; valid weights: DEFAULT, IMAGENET1K_V1"):
        load_model("torchvision:resnet18:IMAGENET2K")


def test_timm_random_init():
    pytest.importorskip("timm")
    loaded = load_model("timm:resnet18")
    assert type(loaded.module).__name__ == "ResNet"
    assert loaded.weights is None
    pre = loaded.preprocessing
    assert (pre.resize, pre.crop, pre.interpolation) == (235, (224, 224), "bicubic")
    assert pre.source.startswith("timm data config")


def test_timm_unknown_name_did_you_mean():
    pytest.importorskip("timm")
    with pytest.raises(ModelSpecError, match=r"Unknown timm model 'resnet181'\. Did you mean 'resnet18'"):
        load_model("timm:resnet181")


def test_timm_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # what Python sees when timm is not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'layerscope\[timm\]'"):
        load_model("timm:resnet18")


def test_factory_from_module_on_sys_path(user_module):
    name, _ = user_module
    loaded = load_model(f"{name}:make")
    assert isinstance(loaded.module[0], nn.Conv2d)
    assert loaded.preprocessing.channels == 1
    assert "first conv takes 1 channel" in loaded.preprocessing.source


def test_factory_from_file_path(user_module):
    _, path = user_module
    loaded = load_model(f"{path}:make_rgb")
    assert loaded.preprocessing.channels == 3
    assert loaded.preprocessing.source.startswith("ImageNet defaults (no preprocessing metadata")


def test_module_instance_attribute(user_module):
    name, _ = user_module
    assert load_model(f"{name}:NET").module[0].out_channels == 2


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("mkae", r"has no attribute 'mkae'.*Did you mean 'make'"),
        ("not_a_model", r"not_a_model\(\) returned int, not an nn\.Module"),
        ("broken", r"broken\(\) raised ValueError: bad config"),
    ],
)
def test_factory_errors(user_module, attr, message):
    name, _ = user_module
    with pytest.raises(ModelSpecError, match=message):
        load_model(f"{name}:{attr}")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", r"The model spec is empty"),
        ("resnet18", r"Model spec 'resnet18' is not understood\. Did you mean 'torchvision:resnet18'"),
        ("torchvision:", r"names no model; write torchvision:NAME"),
        ("torchvision:resnet18:DEFAULT:x", r"has too many parts"),
        ("timm:resnet18:random", r"has an unknown option; timm specs accept timm:NAME or timm:NAME:pretrained"),
        ("no_such_pkg_xyz.models:make", r"Cannot import module 'no_such_pkg_xyz\.models'"),
        ("1bad:make", r"'1bad' is not a module path or a \.py file"),
        ("missing_dir/model.py:make", r"Model file missing_dir/model\.py does not exist"),
        ("pkg.mod:", r"is not understood"),
    ],
)
def test_bad_spec_forms(spec, message):
    with pytest.raises(ModelSpecError, match=message):
        load_model(spec)


def test_module_passed_directly_gets_imagenet_defaults_and_keeps_mode():
    model = nn.Sequential(nn.Conv2d(3, 2, 3)).train()
    loaded = load_model(model)
    assert loaded.module is model and model.training
    assert loaded.preprocessing.source.startswith("ImageNet defaults")


def test_module_passed_with_given_preprocessing():
    pre = Preprocessing(resize=None, crop=(8, 8), mean=(0.5,), std=(0.5,), channels=1, source="mine")
    assert load_model(nn.Conv2d(1, 1, 1), preprocessing=pre).preprocessing is pre


def test_bad_device_is_an_input_error():
    with pytest.raises(InputError, match=r"Device 'gpu7' cannot be used"):
        load_model(nn.Conv2d(1, 1, 1), device="gpu7")


def test_preprocess_paths_to_batch(tmp_path):
    paths = []
    for i, size in enumerate([(40, 30), (30, 50)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("L", size, 255).save(paths[-1])
    loaded = load_model("torchvision:squeezenet1_1").with_preprocessing(size=32)
    batch = loaded.preprocess([str(p) for p in paths])
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == torch.float32


def test_preprocess_different_sizes_without_crop_explains_fix():
    pre = Preprocessing(resize=None, crop=None)
    loaded = LoadedModel(nn.Conv2d(3, 1, 1), "x", pre)
    with pytest.raises(InputError, match=r"different tensor shapes .*--size N"):
        loaded.preprocess([Image.new("RGB", (4, 4)), Image.new("RGB", (5, 4))])


def test_builtin_digits_uses_zoo_metadata():
    zoo = pytest.importorskip("layerscope.zoo")
    if not hasattr(zoo, "build_builtin"):
        pytest.skip("layerscope.zoo.build_builtin is not written yet (ZOO helper)")
    loaded = load_model("builtin:digits")
    pre = loaded.preprocessing
    assert (pre.channels, pre.input_size, pre.mean, pre.std) == (1, (28, 28), (0.5,), (0.5,))
    assert pre.source == "builtin:digits metadata"
    assert loaded.weights == "builtin:digits trained weights"
    untrained = load_model("builtin:digits:untrained")
    assert untrained.weights is None
    assert not torch.equal(untrained.module.conv1.weight, loaded.module.conv1.weight)


def test_unknown_builtin_did_you_mean():
    zoo = pytest.importorskip("layerscope.zoo")
    if not hasattr(zoo, "list_builtin"):
        pytest.skip("layerscope.zoo.list_builtin is not written yet (ZOO helper)")
    with pytest.raises(ModelSpecError, match=r"Unknown builtin model 'digit'\. Did you mean 'digits'"):
        load_model("builtin:digit")


def test_torchvision_weights_path_offline_from_a_planted_cache(tmp_path, monkeypatch):
    """The real torchvision weights route, fed from the hub cache (a random state dict planted there)."""
    import torchvision

    weights = torchvision.models.get_weight("SqueezeNet1_1_Weights.IMAGENET1K_V1")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        planted = torchvision.models.squeezenet1_1(weights=None).state_dict()
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(planted, cache / weights.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    loaded = load_model("torchvision:squeezenet1_1:default")
    assert loaded.weights == "SqueezeNet1_1_Weights.IMAGENET1K_V1"
    assert loaded.preprocessing.source == "torchvision weights SqueezeNet1_1_Weights.IMAGENET1K_V1 (ImageClassification)"
    assert torch.equal(loaded.module.features[0].weight, planted["features.0.weight"])


def test_torchvision_weights_of_another_model_are_refused():
    with pytest.raises(ModelSpecError, match=r"belong to VGG16_Weights, but torchvision:resnet18 uses ResNet18_Weights"):
        load_model("torchvision:resnet18:VGG16_Weights.IMAGENET1K_V1")


def test_py_file_without_factory_says_so(user_module):
    _, path = user_module
    with pytest.raises(ModelSpecError, match=r"Name the function that builds the model: '.*\.py:FACTORY'"):
        load_model(str(path))
