"""Attention maps against independent oracles: Hugging Face's own ``output_attentions=True`` (eager), a softmax of
q and k captured here with the test's own hooks, and attention rollout written directly in numpy.

Tiny random-init models: HF ViT, DeiT (2 prefix tokens), DINOv2, DINOv2 with registers (5 prefix tokens) and CLIP's
vision tower from :mod:`tests.hf.tiny`, and timm ViTs (fused attention, one with q/k normalization and 2 prefix
tokens), in float64.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from layerscope.errors import InputError, LayerscopeError
from layerscope.explain.attention import attention_layers, attention_maps

timm = pytest.importorskip("timm")
tiny_hf = pytest.importorskip("tests.hf.tiny")

TOL = 1e-6
HF_FAMILIES = ("vit", "deit", "dinov2", "dinov2_registers", "clip")  # clip: its vision tower
GRID = (tiny_hf.IMAGE // tiny_hf.PATCH,) * 2


def _images(n: int = 2, size: int = tiny_hf.IMAGE) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def _hf_model(family: str):
    """The family's tiny model in float64 (CLIP: its vision tower, which takes images alone), seeded."""
    if family != "clip":
        return tiny_hf.tiny(family).double()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return tiny_hf.T.CLIPVisionModel(tiny_hf.config("clip").vision_config).eval().double()


@pytest.fixture(scope="module", params=HF_FAMILIES)
def hf(request):
    return request.param, _hf_model(request.param)


def _timm_vit(**kwargs):
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=tiny_hf.IMAGE, patch_size=8, depth=3,
                              num_classes=3, **kwargs)
    return model.double().eval()


TIMM = {"plain": {}, "qknorm_reg": {"qk_norm": True, "reg_tokens": 1}}


@pytest.fixture(scope="module", params=list(TIMM))
def timm_vit(request):
    return request.param, _timm_vit(**TIMM[request.param])


def _hf_reference(family: str) -> list[torch.Tensor]:
    """HF's own attention weights: the same weights, eager from construction, ``output_attentions=True``."""
    model = _hf_model(family)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        return list(model(_images(), output_attentions=True).attentions)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def test_hf_matches_output_attentions_per_head_and_mean(hf):
    family, model = hf
    prefix = tiny_hf.PREFIX[family]
    reference = _hf_reference(family)
    per_head = attention_maps(model, _images(), heads="all")
    mean = attention_maps(model, _images())
    assert per_head.prefix == prefix and per_head.grid == GRID and len(per_head.layers) == len(reference) == 2
    assert per_head.prefix_names[0] == "CLS" and len(per_head.prefix_names) == prefix
    for layer, expected in zip(per_head.layers, reference):
        row = expected[:, :, 0, prefix:].reshape(2, -1, *GRID)
        assert per_head[layer].shape == (2, 4, *GRID)
        assert _max_diff(per_head[layer], row) <= TOL
        assert _max_diff(mean[layer], row.mean(1, keepdim=True)) <= TOL


def _softmax_qk(q: torch.Tensor, k: torch.Tensor, heads: int) -> torch.Tensor:
    """softmax(q kᵀ / sqrt(d)) per head from (N, T, heads * d) projections, in float64."""
    n, t, width = q.shape
    q = q.double().reshape(n, t, heads, -1).transpose(1, 2)
    k = k.double().reshape(n, t, heads, -1).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)


def test_hf_matches_hand_computation_from_q_and_k(hf):
    family, model = hf
    prefix, kept, handles = tiny_hf.PREFIX[family], {}, []
    for name, module in model.named_modules():
        if name.endswith(".q_proj") or name.endswith(".k_proj"):
            handles.append(module.register_forward_hook(lambda m, a, out, name=name: kept.setdefault(name, out)))
    try:
        with torch.no_grad():
            model(_images())
    finally:
        for handle in handles:
            handle.remove()
    found = attention_maps(model, _images(), heads="all")
    for layer in found.layers:
        heads = model.config.num_attention_heads
        by_hand = _softmax_qk(kept[layer + ".q_proj"], kept[layer + ".k_proj"], heads)
        assert _max_diff(found[layer], by_hand[:, :, 0, prefix:].reshape(2, -1, *GRID)) <= TOL


def _numpy_rollout(attentions: list[np.ndarray]) -> np.ndarray:
    """Abnar & Zuidema 2020 written directly: per layer 0.5 * mean over heads + 0.5 * I, rows renormalized,
    the product from the first layer up."""
    n, _, t, _ = attentions[0].shape
    out = np.stack([np.eye(t)] * n)
    for a in attentions:
        step = 0.5 * a.mean(axis=1) + 0.5 * np.eye(t)
        step = step / step.sum(axis=-1, keepdims=True)
        out = np.einsum("nij,njk->nik", step, out)
    return out


def test_hf_rollout_matches_numpy(hf):
    family, model = hf
    prefix, reference = tiny_hf.PREFIX[family], [a.numpy() for a in _hf_reference(family)]
    expected = _numpy_rollout(reference)[:, 0, prefix:].reshape(2, 1, *GRID)
    found = attention_maps(model, _images(), rollout=True)
    assert float(np.abs(found.rollout.numpy() - expected).max()) <= TOL
    first, last = found.layers
    upto_first = _numpy_rollout(reference[:1])[:, 0, prefix:].reshape(2, 1, *GRID)
    assert float(np.abs(found.rollouts[first].numpy() - upto_first).max()) <= TOL  # the rollout up to each layer
    assert torch.equal(found.rollouts[last], found.rollout)


def test_hf_chosen_token_and_layers(hf):
    family, model = hf
    prefix, reference = tiny_hf.PREFIX[family], _hf_reference(family)
    token = prefix + 5  # a patch token
    found = attention_maps(model, _images(), layers=attention_layers(model)[1], token=token, heads="all")
    (layer,) = found.layers
    assert found.token == token
    assert _max_diff(found[layer], reference[1][:, :, token, prefix:].reshape(2, -1, *GRID)) <= TOL


def _timm_reference(model) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """timm's own softmax (its non-fused path, read at ``attn_drop``'s input) and a hand computation from the qkv
    projection (split into q and k, through q_norm / k_norm), in a copy of the model."""
    model = copy.deepcopy(model)
    own, by_hand, handles = [], [], []
    for block in model.blocks:
        attn = block.attn
        attn.fused_attn = False
        handles.append(attn.attn_drop.register_forward_hook(lambda m, a, out: own.append(a[0])))

        def qkv_hook(m, a, out, attn=attn):
            n, t, _ = out.shape
            q, k, _ = out.reshape(n, t, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
            q, k = attn.q_norm(q), attn.k_norm(k)
            by_hand.append(torch.softmax(q.double() @ k.double().transpose(-1, -2) / q.shape[-1] ** 0.5, -1))

        handles.append(attn.qkv.register_forward_hook(qkv_hook))
    with torch.no_grad():
        model(_images())
    for handle in handles:
        handle.remove()
    return own, by_hand


def test_timm_matches_its_own_softmax_and_a_hand_computation(timm_vit):
    kind, model = timm_vit
    assert model.blocks[0].attn.fused_attn  # the model under test computes attention fused: nothing to read
    prefix = model.num_prefix_tokens
    assert prefix == (2 if kind == "qknorm_reg" else 1)
    own, by_hand = _timm_reference(model)
    found = attention_maps(model, _images(), heads="all", rollout=True)
    assert found.layers == ["blocks.0.attn", "blocks.1.attn", "blocks.2.attn"] and found.prefix == prefix
    for layer, a, b in zip(found.layers, own, by_hand):
        assert _max_diff(found[layer], a[:, :, 0, prefix:].reshape(2, -1, *GRID)) <= TOL
        assert _max_diff(found[layer], b[:, :, 0, prefix:].reshape(2, -1, *GRID)) <= TOL
    expected = _numpy_rollout([a.numpy() for a in own])[:, 0, prefix:].reshape(2, 1, *GRID)
    assert float(np.abs(found.rollout.numpy() - expected).max()) <= TOL


def test_timm_non_square_input():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=(16, 40), patch_size=8, depth=1,
                              num_classes=3).eval()
    found = attention_maps(model, torch.rand(1, 3, 16, 40))
    assert found.grid == (2, 5) and found["blocks.0.attn"].shape == (1, 1, 2, 5)


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def _snapshot(model) -> dict:
    return {"state": {k: v.clone() for k, v in model.state_dict().items()},
            "modes": [m.training for m in model.modules()], "hooks": _hooks(model),
            "impl": [getattr(m, "config", None) and m.config._attn_implementation for m in model.modules()]}


def _same(model, before: dict) -> None:
    after = _snapshot(model)
    assert after["modes"] == before["modes"] and after["hooks"] == before["hooks"] == 0
    assert after["impl"] == before["impl"]
    assert all(torch.equal(after["state"][k], v) for k, v in before["state"].items())


@pytest.mark.parametrize("which", ["hf", "timm"])
def test_model_left_as_it_was_also_after_a_raising_forward(which):
    model = tiny_hf.tiny("vit") if which == "hf" else _timm_vit()
    model.train()
    before = _snapshot(model)
    assert which == "timm" or model.config._attn_implementation == "sdpa"
    found = attention_maps(model, torch.rand(1, 3, 32, 32), rollout=True)
    assert torch.isfinite(found.rollout).all()
    _same(model, before)
    with pytest.raises(LayerscopeError):
        attention_maps(model, torch.rand(1, 4, 32, 32))  # 4 channels: the patch embedding raises inside the forward
    _same(model, before)
    model.eval()
    again = attention_maps(model, torch.rand(1, 3, 32, 32), rollout=True)
    assert again.rollout.shape == (1, 1, *GRID)  # eval before: same maps as in train mode (dropout off during the call)


def test_errors_name_the_fix():
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    with pytest.raises(InputError, match="no attention layers"):
        attention_maps(plain, torch.rand(1, 3, 8, 8))
    model = _timm_vit()
    with pytest.raises(InputError, match="heads="):
        attention_maps(model, torch.rand(1, 3, 32, 32), heads="max")
    with pytest.raises(InputError, match="outside the 17 tokens"):
        attention_maps(model, torch.rand(1, 3, 32, 32), token=40)
    with pytest.raises(InputError, match="no attention module"):
        attention_maps(model, torch.rand(1, 3, 32, 32), layers="head")
    no_cls = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=1,
                               num_classes=3, class_token=False, global_pool="avg").eval()
    with pytest.raises(InputError, match="token=INDEX"):
        attention_maps(no_cls, torch.rand(1, 3, 32, 32))
    assert attention_maps(no_cls, torch.rand(1, 3, 32, 32), token=3).prefix == 0


@pytest.mark.parametrize("family", ["swin", "segformer"])
def test_windowed_or_reduced_attention_is_refused_with_the_reason(family):
    model = tiny_hf.tiny(family)
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))  # transformers installs hooks of its own on a first forward (SegFormer)
    hooks = _hooks(model)
    with pytest.raises(InputError, match="no CLS token"):
        attention_maps(model, torch.rand(1, 3, 32, 32))
    with pytest.raises(InputError, match=r"not \(N, heads, T, T\) over the same T tokens"):
        attention_maps(model, torch.rand(1, 3, 32, 32), token=0)
    assert _hooks(model) == hooks and model.config._attn_implementation != "eager"
