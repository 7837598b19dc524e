"""Tiny random-init Hugging Face vision models, built offline from small configs (no download).

One home for every test that needs a ``transformers`` model: ``tiny(family)`` builds the model in
memory (seeded), ``save_tiny(family, folder)`` writes it with ``save_pretrained`` together with the
family's image processor, as a user's ``hf:FOLDER`` would find it.

Each family's input is ``IMAGE`` pixels square unless the config says otherwise; the patch size is 8,
so a ViT-style model has a 4x4 grid of patches plus its prefix tokens.
"""

from __future__ import annotations

import os

import pytest

T = pytest.importorskip("transformers")
import torch  # noqa: E402

IMAGE = 32
PATCH = 8
LABELS = {0: "cat", 1: "dog", 2: "bird"}

_VIT = dict(image_size=IMAGE, patch_size=PATCH, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})

# family -> (config, model class, image processor, prefix tokens)
FAMILIES = ("vit", "deit", "dinov2", "dinov2_registers", "clip", "swin", "convnext", "segformer", "detr")
PREFIX = {"vit": 1, "deit": 2, "dinov2": 1, "dinov2_registers": 5, "clip": 1}


def config(family: str):
    if family == "vit":
        return T.ViTConfig(**_VIT)
    if family == "deit":
        return T.DeiTConfig(**_VIT)
    if family == "dinov2":
        return T.Dinov2Config(**_VIT)
    if family == "dinov2_registers":
        return T.Dinov2WithRegistersConfig(**_VIT, num_register_tokens=4)
    if family == "clip":
        vision = dict(image_size=IMAGE, patch_size=PATCH, hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=64, projection_dim=16)
        text = dict(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                    intermediate_size=64, projection_dim=16, max_position_embeddings=16,
                    bos_token_id=0, eos_token_id=1, pad_token_id=1)
        return T.CLIPConfig(vision_config=vision, text_config=text, projection_dim=16)
    if family == "swin":
        return T.SwinConfig(image_size=IMAGE, patch_size=2, embed_dim=16, depths=[1, 1], num_heads=[2, 2],
                            window_size=4, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    if family == "convnext":
        return T.ConvNextConfig(num_channels=3, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], id2label=LABELS,
                                label2id={v: k for k, v in LABELS.items()})
    if family == "segformer":
        return T.SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                                 patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2],
                                 mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=3)
    if family == "detr":
        return T.DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False,
                            backbone_config=T.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                           out_features=["stage2"]),
                            d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=5,
                            num_labels=3)
    raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")


def _model_class(family: str):
    return {"vit": T.ViTForImageClassification, "deit": T.DeiTForImageClassification,
            "dinov2": T.Dinov2ForImageClassification,
            "dinov2_registers": T.Dinov2WithRegistersForImageClassification, "clip": T.CLIPModel,
            "swin": T.SwinForImageClassification, "convnext": T.ConvNextForImageClassification,
            "segformer": T.SegformerForSemanticSegmentation, "detr": T.DetrForObjectDetection}[family]


def processor(family: str):
    """The family's image processor, sized for the tiny model."""
    size = {"height": IMAGE, "width": IMAGE}
    if family in ("vit", "deit"):
        return T.ViTImageProcessor(size=size)
    if family in ("dinov2", "dinov2_registers"):
        return T.BitImageProcessor(size={"shortest_edge": IMAGE}, crop_size=size, image_mean=[0.485, 0.456, 0.406],
                                   image_std=[0.229, 0.224, 0.225])
    if family == "clip":
        return T.CLIPImageProcessor(size={"shortest_edge": IMAGE}, crop_size=size)
    if family == "swin":
        return T.ViTImageProcessor(size=size, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    if family == "convnext":
        return T.ConvNextImageProcessor(size={"shortest_edge": IMAGE}, crop_pct=1.0)
    if family == "segformer":
        return T.SegformerImageProcessor(size=size)
    if family == "detr":
        return T.DetrImageProcessor(size={"height": 64, "width": 64})
    raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")


def tiny(family: str, seed: int = 0):
    """The family's tiny model, random init from ``seed``, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _model_class(family)(config(family))
    return model.eval()


def save_tiny(family: str, folder, seed: int = 0) -> str:
    """Write the tiny model and its image processor to ``folder`` (as ``save_pretrained`` does); return it."""
    folder = os.fspath(folder)
    tiny(family, seed).save_pretrained(folder)
    processor(family).save_pretrained(folder)
    return folder


def folders(tmp_path_factory):
    """``folder(family)``: the family saved once into a fresh temporary folder (for a module-scoped fixture)."""
    made: dict[str, str] = {}

    def folder(family: str) -> str:
        if family not in made:
            made[family] = save_tiny(family, tmp_path_factory.mktemp(family))
        return made[family]

    return folder
