"""Token geometry read from the model (Hugging Face and timm), and the maps it lays out, against manual reshapes."""

from __future__ import annotations

import pytest

from tests.hf.tiny import IMAGE, PATCH, PREFIX, tiny  # (skips the module without transformers)

import timm  # noqa: E402
import torch  # noqa: E402

from layerscope.capturing.tokens import TokenGeometry, token_geometry  # noqa: E402

NON_SQUARE = (IMAGE, IMAGE + 2 * PATCH)  # 4x6 patches


@pytest.fixture(scope="module")
def models():
    return {}


def _tiny(models, family):
    if family not in models:
        models[family] = tiny(family)
    return models[family]


@pytest.mark.parametrize("family", sorted(PREFIX))
@pytest.mark.parametrize("size, grid", [((IMAGE, IMAGE), (4, 4)), (NON_SQUARE, (4, 6))])
def test_hf_vit_families_prefix_and_grid(models, family, size, grid):
    model = _tiny(models, family)
    geometry = token_geometry(model, size)
    assert (geometry.prefix, geometry.grid) == (PREFIX[family], grid)
    assert len(geometry.prefix_names) == PREFIX[family] and geometry.prefix_names[0] == "CLS"


def test_hf_prefix_names_say_what_each_token_is(models):
    assert token_geometry(_tiny(models, "deit"), (IMAGE, IMAGE)).prefix_names == ("CLS", "distillation")
    registers = token_geometry(_tiny(models, "dinov2_registers"), (IMAGE, IMAGE)).prefix_names
    assert registers == ("CLS", "register 1", "register 2", "register 3", "register 4")


def test_hf_clip_vision_tower_and_whole_model_agree(models):
    clip = _tiny(models, "clip")
    assert token_geometry(clip.vision_model, NON_SQUARE) == token_geometry(clip, NON_SQUARE)
    assert token_geometry(clip.vision_model, NON_SQUARE).grid == (4, 6)


def test_hf_swin_and_segformer_have_no_prefix_and_a_halving_grid(models):
    swin = token_geometry(_tiny(models, "swin"), NON_SQUARE)  # patch_size 2
    assert (swin.prefix, swin.grid) == (0, (16, 24))
    segformer = token_geometry(_tiny(models, "segformer"), NON_SQUARE)  # strides[0] = 4
    assert (segformer.prefix, segformer.grid) == (0, (8, 12))


@pytest.mark.parametrize("family", ["convnext", "detr"])
def test_hf_models_without_patch_tokens_have_no_geometry(models, family):
    assert token_geometry(_tiny(models, family), (64, 64)) is None


@pytest.mark.parametrize("name, kwargs, prefix, names", [
    ("vit_tiny_patch16_224", {}, 1, ("CLS",)),
    ("deit_tiny_distilled_patch16_224", {}, 2, ("CLS", "distillation")),
    ("vit_tiny_patch16_224", {"reg_tokens": 4}, 5, ("CLS",) + tuple(f"register {i}" for i in range(1, 5))),
    ("eva02_tiny_patch14_224", {"num_reg_tokens": 2}, 3, ("CLS", "register 1", "register 2")),
    ("mixer_s16_224", {}, 0, ()),
])
def test_timm_prefix_tokens(name, kwargs, prefix, names):
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, **kwargs)
    geometry = token_geometry(model, (224, 224))
    assert (geometry.prefix, geometry.prefix_names) == (prefix, names)
    assert geometry.grid == {"eva02_tiny_patch14_224": (16, 16)}.get(name, (14, 14))


def test_timm_grid_follows_a_dynamic_input_size():
    with torch.device("meta"):
        model = timm.create_model("vit_tiny_patch16_224", pretrained=False, dynamic_img_size=True)
    assert token_geometry(model, (64, 96)).grid == (4, 6)
    with torch.device("meta"):
        padded = timm.create_model("vit_tiny_patch16_224", pretrained=False, dynamic_img_size=True,
                                   dynamic_img_pad=True)
    assert token_geometry(padded, (65, 96)).grid == (5, 6)


def test_timm_channels_last_and_conv_models_have_no_geometry():
    with torch.device("meta"):
        assert token_geometry(timm.create_model("swin_tiny_patch4_window7_224"), (224, 224)) is None
        assert token_geometry(timm.create_model("convnext_atto"), (224, 224)) is None


def test_geometry_refuses_a_bad_input_size(models):
    from layerscope.errors import InputError

    with pytest.raises(InputError, match="height, width"):
        token_geometry(_tiny(models, "vit"), (0, 32))
    with pytest.raises(InputError, match="prefix names"):
        TokenGeometry(1, (2, 2), ("CLS", "x"), "test")
