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


def test_hf_models_without_patch_tokens_have_no_geometry(models):
    assert token_geometry(_tiny(models, "convnext"), (64, 64)) is None  # (DETR's: below)


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


# -- the maps of the default layers, against a manual reshape -----------------------------------------------------
def _capture(model, size, interpolate=False):
    from layerscope.capturing import Args, Recorder

    torch.manual_seed(0)
    x = torch.randn(2, 3, *size)
    with Recorder(model, None) as rec:
        return rec(Args(x, interpolate_pos_encoding=True) if interpolate else x)


def _laid(acts, size):
    from layerscope.run.maps import LayerMaps

    reader = LayerMaps()
    return {name: reader.maps(name, acts[name], acts.describe(name), size) for name in acts}, reader


def _by_hand(tokens, prefix, rows, cols):
    """The oracle: drop ``prefix`` tokens, token ``prefix + r*cols + c`` is pixel (r, c) of every channel."""
    n, _, dim = tokens.shape
    out = torch.empty(n, dim, rows, cols)
    for r in range(rows):
        for c in range(cols):
            out[:, :, r, c] = tokens[:, prefix + r * cols + c, :]
    return out


VIT_LIKE = {"vit": True, "deit": True, "dinov2": False, "dinov2_registers": False, "clip": True}  # -> interpolate


@pytest.mark.parametrize("family", sorted(VIT_LIKE))
@pytest.mark.parametrize("size, grid", [((IMAGE, IMAGE), (4, 4)), (NON_SQUARE, (4, 6))])
def test_hf_vit_family_blocks_are_the_patch_grid_and_the_prefix_apart(models, family, size, grid):
    model = _tiny(models, family)
    model = model.vision_model if family == "clip" else model
    acts = _capture(model, size, interpolate=VIT_LIKE[family] and size != (IMAGE, IMAGE))
    laid, reader = _laid(acts, size)
    assert len(laid) == 2 and not reader.skipped  # the two encoder layers
    for name, maps in laid.items():
        tokens, prefix = acts[name], PREFIX[family]
        assert tokens.shape[1] == prefix + grid[0] * grid[1]
        assert (maps.layout, maps.extra_tokens) == ("tokens", prefix)
        torch.testing.assert_close(maps.maps, _by_hand(tokens, prefix, *grid), rtol=0, atol=0)
        torch.testing.assert_close(maps.prefix, tokens[:, :prefix], rtol=0, atol=0)
        assert maps.prefix_maps().shape == (2, prefix, 1, 32) and maps.prefix_names[0] == "CLS"


@pytest.mark.parametrize("size", [(IMAGE, IMAGE), NON_SQUARE])
def test_hf_swin_blocks_are_each_stage_grid(models, size):
    acts = _capture(_tiny(models, "swin"), size)
    laid, reader = _laid(acts, size)
    rows, cols = size[0] // 2, size[1] // 2  # patch_size 2, then patch merging halves each side
    expected = [(rows, cols), (rows // 2, cols // 2)]
    assert [tuple(m.maps.shape[-2:]) for m in laid.values()] == expected and not reader.skipped
    for (name, maps), grid in zip(laid.items(), expected):
        assert maps.extra_tokens == 0 and maps.prefix is None
        torch.testing.assert_close(maps.maps, _by_hand(acts[name], 0, *grid), rtol=0, atol=0)


def test_hf_segformer_blocks_are_each_stage_grid(models):
    acts = _capture(_tiny(models, "segformer"), NON_SQUARE)
    laid, _ = _laid(acts, NON_SQUARE)
    blocks = {n: m for n, m in laid.items() if ".blocks." in n}
    expected = [(8, 12), (4, 6)]  # strides 4 then 2
    assert [tuple(m.maps.shape[-2:]) for m in blocks.values()] == expected
    for (name, maps), grid in zip(blocks.items(), expected):
        torch.testing.assert_close(maps.maps, _by_hand(acts[name], 0, *grid), rtol=0, atol=0)


@pytest.mark.parametrize("size", [(IMAGE, IMAGE), NON_SQUARE])
def test_hf_convnext_layers_are_native_nchw_maps(models, size):
    acts = _capture(_tiny(models, "convnext"), size)
    laid, _ = _laid(acts, size)
    layers = [n for n in laid if n.endswith(("layers.0",))]
    assert layers == ["convnext.encoder.stages.0.layers.0", "convnext.encoder.stages.1.layers.0"]
    for name in layers:
        assert laid[name].layout == "NCHW" and laid[name].maps is acts[name]
        assert tuple(acts[name].shape[-2:]) in ((size[0] // 4, size[1] // 4), (size[0] // 8, size[1] // 8))


@pytest.mark.parametrize("name, kwargs, size, prefix", [
    ("vit_tiny_patch16_224", {}, (32, 48), 1),
    ("deit_tiny_distilled_patch16_224", {}, (32, 48), 2),
    ("vit_tiny_patch16_224", {"reg_tokens": 4}, (48, 32), 5),
    ("eva02_tiny_patch14_224", {"num_reg_tokens": 4}, (28, 42), 5),
])
def test_timm_vit_family_blocks_against_a_manual_reshape(name, kwargs, size, prefix):
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, img_size=size, depth=2, **kwargs).eval()
    acts = _capture(model, size)
    laid, reader = _laid(acts, size)
    assert list(laid) == ["blocks.0", "blocks.1"] and not reader.skipped
    grid = (size[0] // model.patch_embed.patch_size[0], size[1] // model.patch_embed.patch_size[1])
    assert min(grid) == 2 and grid[0] != grid[1]
    for layer, maps in laid.items():
        assert maps.extra_tokens == prefix
        torch.testing.assert_close(maps.maps, _by_hand(acts[layer], prefix, *grid), rtol=0, atol=0)
        torch.testing.assert_close(maps.prefix, acts[layer][:, :prefix], rtol=0, atol=0)


def test_timm_dynamic_size_vit_at_another_input_size():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, depth=1,
                              dynamic_img_size=True).eval()
    acts = _capture(model, (48, 80))
    maps = _laid(acts, (48, 80))[0]["blocks.0"]
    torch.testing.assert_close(maps.maps, _by_hand(acts["blocks.0"], 1, 3, 5), rtol=0, atol=0)


def test_timm_mixer_and_levit_blocks_are_grids():
    from timm.models.mlp_mixer import MlpMixer

    mixer = MlpMixer(img_size=(32, 48), patch_size=16, num_blocks=2, embed_dim=32).eval()
    acts = _capture(mixer, (32, 48))
    laid, _ = _laid(acts, (32, 48))
    assert list(laid) == ["blocks.0", "blocks.1"]
    torch.testing.assert_close(laid["blocks.1"].maps, _by_hand(acts["blocks.1"], 0, 2, 3), rtol=0, atol=0)
    levit = timm.create_model("levit_128s", pretrained=False, img_size=64).eval()
    acts = _capture(levit, (64, 64))
    laid, _ = _laid(acts, (64, 64))
    grids = {tuple(m.maps.shape[-2:]) for m in laid.values()}
    assert grids == {(4, 4), (2, 2), (1, 1)}  # the stem's stride 16, then two stages that halve it
    torch.testing.assert_close(laid["stages.0.blocks.0"].maps, _by_hand(acts["stages.0.blocks.0"], 0, 4, 4))


def test_a_sequence_that_fits_no_stage_of_the_geometry_is_refused_with_the_fix():
    from layerscope.core.layout import to_maps
    from layerscope.errors import LayoutError

    with pytest.raises(LayoutError, match="layout='NLC'"):
        to_maps(torch.zeros(1, 7, 4), tokens=TokenGeometry(1, (2, 2), ("CLS",), "test"))


# -- default layers and what a capture carries -----------------------------------------------------------------
HF_BLOCKS = {  # the encoder layers of each modeling_*.py (2 layers; Swin and SegFormer: 1 block in each of 2 stages)
    "vit": ["vit.layers.0", "vit.layers.1"],
    "deit": ["deit.layers.0", "deit.layers.1"],
    "dinov2": ["dinov2.encoder.layer.0", "dinov2.encoder.layer.1"],
    "dinov2_registers": ["dinov2_with_registers.encoder.layer.0", "dinov2_with_registers.encoder.layer.1"],
    "clip": ["vision_model.encoder.layers.0", "vision_model.encoder.layers.1"],  # not the text tower's
    "swin": ["swin.encoder.layers.0.blocks.0", "swin.encoder.layers.1.blocks.0"],
    "segformer": ["segformer.stages.0.blocks.0", "segformer.stages.1.blocks.0"],
    "convnext": ["convnext.embeddings.layernorm", "convnext.encoder.stages.0.layers.0",
                 "convnext.encoder.stages.1.downsampling_layer.1", "convnext.encoder.stages.1.layers.0"],
}


@pytest.mark.parametrize("family", sorted(HF_BLOCKS))
def test_hf_default_layers_are_the_blocks(models, family):
    from layerscope.capturing import select_layers

    assert select_layers(_tiny(models, family)) == HF_BLOCKS[family]


def test_a_capture_carries_the_geometry_and_describes_it_for_token_layers(models):
    from layerscope.run.maps import LayerMaps

    acts = _capture(_tiny(models, "deit"), NON_SQUARE, interpolate=True)
    assert acts.tokens == token_geometry(_tiny(models, "deit"), NON_SQUARE)
    record = acts.describe("deit.layers.0")
    assert record["tokens"] == {"prefix": 2, "grid": [4, 6], "prefix_names": ["CLS", "distillation"],
                                "source": acts.tokens.source}
    reader = LayerMaps()
    reader.maps("deit.layers.0", acts["deit.layers.0"], record, None)
    # a later call that only knows the module type reads the layer the same way (the row keeps the geometry)
    again = reader.maps("deit.layers.0", acts["deit.layers.0"], {"module_type": "DeiTLayer"}, None)
    assert tuple(again.maps.shape[-2:]) == (4, 6) and again.extra_tokens == 2
    assert "tokens" not in _capture(_tiny(models, "convnext"), NON_SQUARE).describe("convnext.encoder.stages.0.layers.0")


def test_subject_tokens_is_the_models_geometry_at_its_input_size(models):
    from layerscope.run import Subject

    subject = Subject.of(_tiny(models, "dinov2_registers"))
    assert subject.tokens(NON_SQUARE) == token_geometry(subject.module, NON_SQUARE)
    assert subject.layers == HF_BLOCKS["dinov2_registers"]


def test_show_draws_the_prefix_tokens_beside_each_grid(models, tmp_path):
    import json

    import layerscope as ls

    result = ls.show(_tiny(models, "dinov2_registers"), torch.randn(1, 3, *NON_SQUARE), out=tmp_path)
    rows = json.loads((tmp_path / "index.json").read_text())["layers"]
    assert [row["prefix"]["names"] for row in rows] == [["CLS", "register 1", "register 2", "register 3",
                                                         "register 4"]] * 2
    for row in rows:
        assert (tmp_path / "input-000" / row["prefix"]["file"]).stat().st_size > 0
        assert row["tokens"]["grid"] == [4, 6]
    assert result.count == 2


def test_geometry_fits_stage_grids_only_without_prefix_tokens():
    assert TokenGeometry(0, (7, 9), (), "hierarchical").fit(2 * 3) == (0, 2, 3)  # ceil(7/4) x ceil(9/4)
    vit = TokenGeometry(1, (4, 4), ("CLS",), "vit")
    assert vit.fit(17) == (1, 4, 4) and vit.fit(16) == (0, 4, 4)
    assert vit.fit(1) is None and vit.fit(5) is None  # a pooled token is no 1x1 stage of a ViT


# -- scan and importance read token layers as show does ---------------------------------------------------------
def _shown(model, x):
    """Each default layer's maps as show lays them out (its reader, with the capture's geometry)."""
    from layerscope.capturing import Recorder, select_layers

    with Recorder(model, select_layers(model)) as rec:
        acts = rec(x)
    return _laid(acts, tuple(x.shape[-2:]))[0]


def _scan_equals_show(model, x, tmp_path):
    import layerscope as ls

    shown = _shown(model, x)
    result = ls.scan(model, x, out=tmp_path, batch_size=len(x), k=2, progress=False)
    assert set(result.layers) == set(shown)
    for name, maps in shown.items():
        layer, values = result[name], maps.maps.double()
        assert layer.layout == maps.layout and layer.map_size == tuple(maps.maps.shape[-2:])
        torch.testing.assert_close(torch.as_tensor(layer.mean).double(), values.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(torch.as_tensor(layer.max).double(), values.amax((0, 2, 3)), rtol=1e-5, atol=1e-6)
    return result, shown


def test_scan_of_a_timm_vit_with_registers_at_a_non_square_size_lays_tokens_out_as_show(tmp_path):
    # 5 prefix tokens + a 3x2 grid: a guess from the length and the input size takes 3 prefix tokens and 4x2
    from layerscope.core.layout import token_grid

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=(48, 32), depth=2,
                              reg_tokens=4).eval()
    assert token_grid(11, (48, 32)) == (3, 4, 2)
    result, shown = _scan_equals_show(model, torch.randn(3, 3, 48, 32), tmp_path)
    assert {result[name].map_size for name in shown} == {(3, 2)}
    assert all(result[name].meta["tokens"]["prefix"] == 5 for name in shown)


@pytest.mark.parametrize("family", ["vit", "dinov2_registers"])
def test_scan_of_hf_vits_lays_tokens_out_as_show(models, family, tmp_path):
    size = NON_SQUARE if family == "dinov2_registers" else (IMAGE, IMAGE)  # (HF ViT: its own size without interpolation)
    torch.manual_seed(0)
    result, shown = _scan_equals_show(_tiny(models, family), torch.randn(3, 3, *size), tmp_path)
    assert {result[name].map_size for name in shown} == {(size[0] // PATCH, size[1] // PATCH)}


def test_scan_crops_reread_a_token_layer_with_the_scans_geometry(tmp_path):
    import layerscope as ls
    from layerscope.scanning.crops import render_crops

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=(48, 32), depth=1,
                              reg_tokens=4).eval()
    data = torch.randn(3, 3, 48, 32)
    result = ls.scan(model, data, out=tmp_path, k=2, progress=False)
    crops = render_crops(result, result["blocks.0"].entries(0)[:2], model=model, data=data)
    assert crops and all(crop.matches for crop in crops)


def test_importance_on_a_token_layer_at_a_non_square_input_equals_captum_over_the_patch_tokens(models):
    """captum's LayerGradientXActivation on the block's (N, L, D) output, summed over the patch tokens: the prefix
    tokens (CLS, 4 registers) are no positions of the grid, so importance leaves them out as show draws them apart."""
    from captum.attr import LayerGradientXActivation

    from layerscope.explain.attribution import importance

    model = _tiny(models, "dinov2_registers")
    torch.manual_seed(0)
    x = torch.randn(2, 3, *NON_SQUARE)  # 5 prefix tokens + a 4x6 grid (no square: a guess without the size fails)
    result = importance(model, x, target=1)
    for name in HF_BLOCKS["dinov2_registers"]:
        reference = LayerGradientXActivation(lambda x: model(x).logits, model.get_submodule(name))
        tokens = reference.attribute(x, target=1)
        assert tokens.shape[1] == 5 + 4 * 6
        torch.testing.assert_close(result[name], tokens[:, 5:].sum(1), rtol=1e-5, atol=1e-6)
        assert tuple(result.activations[name].shape) == (2, 32, 4, 6)


# -- DETR: the encoder's tokens are the backbone's last map, the decoder's are object queries --------------------
@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_detr_geometry_is_the_backbone_map_and_the_queries(models, size):
    model = _tiny(models, "detr")
    torch.manual_seed(0)
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        feature_map = model.model.backbone(x, torch.ones(1, *size, dtype=torch.long))[-1][0]
    grid = tuple(feature_map.shape[-2:])
    geometry = token_geometry(model, size)
    assert (geometry.prefix, geometry.grid, geometry.queries) == (0, grid, model.config.num_queries)
    from layerscope.capturing import Args, Recorder

    layers = ["model", "model.encoder.layers.0", "model.decoder.layers.0"]
    with Recorder(model, layers) as rec:
        acts = rec(Args(x))
    laid, reader = _laid(acts, size)
    assert not reader.skipped
    for name in ("model:encoder_last_hidden_state", "model.encoder.layers.0"):  # the flattened backbone map
        assert acts[name].shape[1] == grid[0] * grid[1] and laid[name].prefix is None
        torch.testing.assert_close(laid[name].maps, _by_hand(acts[name], 0, *grid), rtol=0, atol=0)
    for name in ("model:last_hidden_state", "model.decoder.layers.0"):  # 5 object queries: vectors, never 1 + 2x2
        queries = acts[name]
        assert queries.shape[1] == 5 and laid[name].layout == "NLC" and laid[name].prefix is None
        torch.testing.assert_close(laid[name].maps, queries.transpose(1, 2)[:, :, None, :], rtol=0, atol=0)
        assert "object queries" in laid[name].notes[0]


def test_detr_default_layers_stay_its_backbone_and_outputs(models):
    from layerscope.capturing import select_layers

    layers = select_layers(_tiny(models, "detr"))
    assert layers[0] == "model" and all(n.startswith("model.backbone.") for n in layers[1:])
