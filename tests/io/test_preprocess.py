"""Preprocessing against independent references: torchvision's and timm's own transforms on a real photo."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision.models import get_weight
from torchvision.transforms.functional import pil_to_tensor

from layerscope.errors import InputError
from layerscope.io import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from layerscope.io.preprocess import first_conv_channels, from_timm_config, from_torchvision_weights

WEIGHTS = [
    "ResNet50_Weights.IMAGENET1K_V2",  # resize 232, crop 224, bilinear
    "EfficientNet_B0_Weights.IMAGENET1K_V1",  # bicubic
    "Inception_V3_Weights.IMAGENET1K_V1",  # 342 / 299
    "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1",  # 384 / 384 bicubic
    "FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1",  # resize only, no crop
]


@pytest.mark.parametrize("name", WEIGHTS)
def test_matches_torchvision_weights_transforms_on_pil(cat, name):
    weights = get_weight(name)  # the enum only: nothing is downloaded
    expected = weights.transforms()(cat)
    actual = from_torchvision_weights(weights)(cat)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=0)


def test_close_to_torchvision_tensor_path(cat):
    weights = get_weight("ResNet50_Weights.IMAGENET1K_V2")
    expected = weights.transforms()(pil_to_tensor(cat))  # torch's antialiased resize instead of PIL's
    diff = (from_torchvision_weights(weights)(cat) - expected).abs()
    assert diff.mean() < 0.01 and diff.max() < 0.05  # about one grey level of 255, in normalized units


def test_matches_timm_eval_transform(cat):
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", pretrained=False)
    config = timm.data.resolve_data_config({}, model=model)
    expected = timm.data.create_transform(**config)(cat)
    pre = from_timm_config(config, "resnet18")
    assert (pre.resize, pre.crop, pre.interpolation) == (235, (224, 224), "bicubic")
    torch.testing.assert_close(pre(cat), expected, atol=1e-6, rtol=0)


def test_detection_weights_only_scale_to_unit_range():
    pre = from_torchvision_weights(get_weight("FasterRCNN_ResNet50_FPN_Weights.COCO_V1"))
    assert (pre.resize, pre.crop, pre.mean, pre.std) == (None, None, (0.0,) * 3, (1.0,) * 3)
    assert pre(Image.new("RGB", (5, 4), (255, 0, 51)))[:, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])


def test_grayscale_output_has_one_channel():
    pre = Preprocessing(resize=None, crop=None, mean=(0.5,), std=(0.5,), channels=1, source="test")
    out = pre(Image.new("RGB", (3, 2), (255, 255, 255)))
    assert out.shape == (1, 2, 3) and out.unique().tolist() == [1.0]


def test_describe_and_dict_round_trip():
    pre = Preprocessing(source="ImageNet defaults (random-init torchvision model)")
    assert pre.describe() == (
        "resize shorter side to 256 (bilinear), center-crop 224x224, RGB, mean (0.485, 0.456, 0.406), "
        "std (0.229, 0.224, 0.225) [ImageNet defaults (random-init torchvision model)]"
    )
    data = json.loads(json.dumps(pre.to_dict()))
    assert data["input_size"] == [224, 224]
    assert Preprocessing.from_dict(data) == pre


def test_size_override_keeps_crop_ratio():
    pre = Preprocessing().with_overrides(size=448)
    assert (pre.resize, pre.crop, pre.input_size) == (512, (448, 448), (448, 448))
    assert pre.source == "ImageNet defaults; overridden: size 448"


def test_mean_std_override_broadcasts_single_value():
    pre = Preprocessing().with_overrides(mean=[0.5], std=[0.25])
    assert (pre.mean, pre.std) == ((0.5,) * 3, (0.25,) * 3)


def test_grayscale_override_averages_mean_and_std():
    pre = Preprocessing(mean=(0.2, 0.4, 0.6), std=(0.1, 0.2, 0.3)).with_overrides(grayscale=True)
    assert pre.channels == 1
    assert pre.mean == pytest.approx((0.4,)) and pre.std == pytest.approx((0.2,))


def test_wrong_number_of_mean_values_is_an_input_error():
    with pytest.raises(InputError, match=r"mean=\(0.5, 0.5\) has 2 values but channels=3"):
        Preprocessing().with_overrides(mean=[0.5, 0.5])


def test_zero_std_is_an_input_error():
    with pytest.raises(InputError, match="std=.* must be positive"):
        Preprocessing().with_overrides(std=[0.0])


def test_no_overrides_returns_same_object():
    pre = Preprocessing()
    assert pre.with_overrides() is pre


def test_input_not_modified(cat):
    before = cat.tobytes()
    Preprocessing()(cat)
    assert (cat.mode, cat.size, cat.tobytes()) == ("RGB", (451, 300), before)


def test_image_smaller_than_crop_is_zero_padded_like_torchvision():
    from torchvision.transforms.functional import center_crop

    image = Image.new("RGB", (3, 2), (255, 255, 255))
    pre = Preprocessing(resize=None, crop=(4, 5), mean=(0, 0, 0), std=(1, 1, 1))
    expected = center_crop(pil_to_tensor(image), [4, 5]).float() / 255
    torch.testing.assert_close(pre(image), expected)


def test_first_conv_channels():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Conv2d(4, 1, 1), torch.nn.Conv2d(1, 1, 1))
    assert first_conv_channels(model) == 4


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 120),
    height=st.integers(1, 120),
    crop=st.integers(1, 64),
    resize=st.integers(1, 80),
    value=st.integers(0, 255),
)
def test_property_shape_is_input_size_and_constant_image_normalizes_exactly(width, height, crop, resize, value):
    pre = Preprocessing(resize=max(resize, crop), crop=(crop, crop))
    out = pre(Image.new("RGB", (width, height), (value, value, value)))
    assert tuple(out.shape[1:]) == pre.input_size == (crop, crop)
    expected = (value / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    torch.testing.assert_close(out[:, crop // 2, crop // 2], torch.tensor(expected, dtype=torch.float32), atol=1e-5, rtol=0)


# --- non-square --size: the resize covers both crop sides, so the crop never pads ------------------

NATIVE = {
    "imagenet": Preprocessing(),  # shorter side 256, crop 224
    "resize-only": Preprocessing(resize=520, crop=None),  # segmentation weights: no crop
    "exact-resize": Preprocessing(resize=(256, 256), crop=(224, 224)),  # timm squash mode
    "no-ratio": Preprocessing(resize=32, crop=(32, 32)),
}


@settings(max_examples=60, deadline=None)
@given(
    native=st.sampled_from(sorted(NATIVE)),
    width=st.integers(4, 700),  # from 4: a 1-pixel side would be scaled to a 160,000-pixel long side
    height=st.integers(4, 700),
    crop_h=st.integers(1, 300),
    crop_w=st.integers(1, 300),
)
def test_property_size_override_never_pads(native, width, height, crop_h, crop_w):
    pre = dataclasses.replace(NATIVE[native], mean=(0.0,) * 3, std=(1.0,) * 3)
    sized = pre.with_overrides(size=(crop_h, crop_w))
    out = sized(Image.new("RGB", (width, height), (255, 255, 255)))
    assert tuple(out.shape[1:]) == sized.input_size == (crop_h, crop_w)
    assert out.min().item() > 0.99  # a padded pixel would be 0


@pytest.mark.parametrize(("width", "height"), [(600, 400), (400, 600), (1000, 200)])
def test_non_square_size_on_real_files_has_no_black_bands(tmp_path, width, height):
    from layerscope.io import load_model

    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(60, 256, (height, width, 3), dtype=np.uint8)).save(path)
    loaded = load_model("torchvision:resnet18").with_preprocessing(size=(160, 200))
    batch = loaded.preprocess([str(path)])
    pixels = batch[0] * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    assert batch.shape == (1, 3, 160, 200)
    assert pixels.amin(dim=(0, 1)).min().item() > 0.2  # no all-black column (padding gives 0)
    assert pixels.amin(dim=(0, 2)).min().item() > 0.2  # no all-black row


def test_non_square_size_keeps_the_resize_ratio_of_the_longer_crop_side():
    pre = Preprocessing().with_overrides(size=(160, 200))
    assert (pre.resize, pre.crop) == (229, (160, 200))  # round(200 * 256 / 224)
