"""Preprocessing that differs from the model's: overridden mean/std/size, and 0.5/0.5 vs ImageNet by the values."""

import pytest
import torch
from PIL import Image
from torch import nn

from layerscope.diagnosis import InputStats, check_inputs, diagnose
from layerscope.io import LoadedModel, Preprocessing, load_model

from .models import TwoConv

IMAGENET = Preprocessing()  # resize 256, crop 224, ImageNet mean/std
HALF = IMAGENET.with_overrides(mean=(0.5,), std=(0.5,))
# scikit-image's shipped photos (no download): natural scenes, micrographs, astronomy, documents
PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
          "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket", "text")


def _photo(name: str) -> Image.Image:
    from skimage import data

    array = getattr(data, name)()
    return Image.fromarray(array if array.ndim == 2 else array[..., :3]).convert("RGB")


def _codes(x: torch.Tensor, expected=IMAGENET) -> list[str]:
    """Input codes except input.grayscale (several photos are grayscale, which is right to report)."""
    return [f.code for f in check_inputs(InputStats().update(x), expected) if f.code != "input.grayscale"]


@pytest.mark.parametrize("name", PHOTOS)
def test_correctly_normalized_photo_has_no_finding(name):
    assert _codes(IMAGENET(_photo(name))[None]) == []


@pytest.mark.parametrize("name", PHOTOS)
def test_half_normalized_photo_fed_to_imagenet_model_is_input_normalization(name):
    assert _codes(HALF(_photo(name))[None]) == ["input.normalization"]


def test_half_normalized_batch_through_the_library_names_both_normalizations():
    x = torch.stack([HALF(_photo(name)) for name in ("astronaut", "coffee", "rocket")])
    result = diagnose("torchvision:resnet18", x, "conv1", channel_order=False)
    assert [f.code for f in result.input_findings] == ["input.normalization"]
    finding = result.input_findings[0]
    assert "0.5/0.5" in finding.message and "Normalize(mean=(0.485, 0.456, 0.406)" in finding.fix
    assert finding.values["range_used"] < 0.4


def test_unscaled_by_std_only_is_input_normalization():
    x = torch.stack([IMAGENET(_photo(n)) for n in ("astronaut", "coffee")])  # mean forgotten: x / std only
    x = x + torch.tensor(IMAGENET.mean)[:, None, None] / torch.tensor(IMAGENET.std)[:, None, None]
    assert _codes(x) == ["input.normalization"]


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "coffee", "rocket"):
        _photo(name).resize((320, 240)).save(folder / f"{name}.png")
    return sorted(str(p) for p in folder.iterdir())


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"mean": (0.0,), "std": (1.0,)}, "input.mean_std"),
        ({"mean": (0.5,), "std": (0.5,)}, "input.mean_std"),
        ({"size": 32}, "input.size"),
    ],
)
def test_overridden_preprocessing_is_compared_with_the_models_own(photo_files, overrides, code):
    loaded = load_model("torchvision:resnet18").with_preprocessing(**overrides)
    result = diagnose(loaded, photo_files, "conv1", channel_order=False)
    assert [(f.code, f.severity) for f in result.input_findings] == [(code, "warning")]


def test_mean_std_finding_names_both_and_the_fix(photo_files):
    loaded = load_model("torchvision:resnet18").with_preprocessing(mean=(0.5,), std=(0.5,))
    finding = diagnose(loaded, photo_files, "conv1", channel_order=False).input_findings[0]
    assert "mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5)" in finding.message
    assert "mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)" in finding.message
    assert "--mean" in finding.fix and finding.values["native"]["mean"] == [0.485, 0.456, 0.406]


def test_override_of_a_guessed_preprocessing_is_not_a_finding(photo_files):
    loaded = load_model(TwoConv()).with_preprocessing(mean=(0.5,), std=(0.5,), size=32)  # no metadata: a guess
    result = diagnose(loaded, photo_files, "conv1", channel_order=False)
    assert [f.code for f in result.input_findings] == []


def test_override_under_a_foreign_checkpoint_is_only_info(photo_files):
    model = nn.Sequential(nn.Conv2d(3, 4, 3))  # ImageNet defaults, but the checkpoint may be trained otherwise
    loaded = LoadedModel(model, "test:conv", IMAGENET, "checkpoint w.safetensors").with_preprocessing(mean=(0.5,), std=(0.5,))
    result = diagnose(loaded, photo_files, channel_order=False)
    assert [(f.code, f.severity) for f in result.input_findings] == [("input.mean_std", "info")]


def test_preprocessing_argument_is_the_effective_one_for_a_loaded_model(photo_files):
    result = diagnose(load_model("torchvision:resnet18"), photo_files, "conv1", preprocessing=HALF, channel_order=False)
    assert [f.code for f in result.input_findings] == ["input.mean_std"]
    assert result.preprocessing["mean"] == [0.5, 0.5, 0.5]
