"""``hf:FOLDER`` specs: every tiny family loads from a save_pretrained folder, offline, with its processor's
preprocessing, its class names and (CLIP) its vision tower; a hub name fails at once with the fix."""

from __future__ import annotations

import json
import time

import numpy as np
import PIL.Image
import pytest
import torch

from layerscope.errors import ModelSpecError, UnsafeCheckpointError
from layerscope.io import load_model
from layerscope.io.hf import VisionEmbedding
from layerscope.io.preprocess import from_hf_processor
from layerscope.io.specs import build_from_spec

from .tiny import FAMILIES, IMAGE, LABELS, T, processor, tiny
from .tiny import folders as saved_folders

# what the processor's default (torchvision) backend may differ by: one level of 255 over the smallest std (0.229)
ONE_LEVEL = 1 / 255 / 0.22


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return saved_folders(tmp_path_factory)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> str:
    """A real PNG file, not square (60 high, 50 wide), with gradients and noise: resizing and cropping both show."""
    y, x = np.mgrid[0:60, 0:50]
    smooth = np.stack([(x * 5) % 256, (y * 4) % 256, ((x + y) * 3) % 256], -1) * 0.5
    noise = np.random.default_rng(0).integers(0, 128, smooth.shape)
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    PIL.Image.fromarray((smooth + noise).astype(np.uint8)).save(path)
    return str(path)


def _output(module, x):
    out = module(x)
    return out if isinstance(out, torch.Tensor) else out[0]  # a ModelOutput's first field (logits, last state)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_from_its_folder_with_its_weights(family, folders):
    loaded = load_model(f"hf:{folders(family)}")
    reference = tiny(family)  # the same seed, built in memory: the folder's weights came back
    x = torch.rand(2, 3, *loaded.preprocessing.input_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        if family == "clip":
            expected = reference.get_image_features(pixel_values=x).pooler_output
        else:
            expected = _output(reference, x)
        got = _output(loaded.module, x)
    assert torch.equal(got, expected)
    assert loaded.weights == f"Hugging Face folder {folders(family)}"
    assert not loaded.module.training


@pytest.mark.parametrize("family", FAMILIES)
def test_preprocessing_matches_the_processor_on_a_real_image(family, folders, photo):
    """Pixel for pixel the processor's PIL backend (max abs diff 0 here; asserted <= 1e-6), and within one level
    of 255 of its default torchvision backend (which resizes with antialiasing; 0.0078 to 0.0175 here)."""
    loaded = load_model(f"hf:{folders(family)}")
    ours = loaded.preprocess(photo)
    image = PIL.Image.open(photo)
    pil = T.AutoImageProcessor.from_pretrained(folders(family), local_files_only=True, backend="pil")
    default = T.AutoImageProcessor.from_pretrained(folders(family), local_files_only=True)
    assert type(pil).__name__.endswith("Pil")
    expected = pil(image, return_tensors="pt")["pixel_values"]
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max() <= 1e-6
    assert (ours - default(image, return_tensors="pt")["pixel_values"]).abs().max() <= ONE_LEVEL
    assert "preprocessor_config.json" in loaded.preprocessing.source


@pytest.mark.parametrize("settings", [
    dict(kind="ConvNextImageProcessor", size={"shortest_edge": 48}, crop_pct=0.875),  # resize 54, crop 48
    dict(kind="ConvNextImageProcessor", size={"shortest_edge": 400}),  # 384 and above: warped, no crop
    dict(kind="CLIPImageProcessor", size={"shortest_edge": 40}, crop_size={"height": 24, "width": 36},
         do_rescale=False, image_mean=[100.0, 110.0, 120.0], image_std=[50.0, 60.0, 70.0]),
    dict(kind="ViTImageProcessor", size={"height": 20, "width": 30}, do_normalize=False, resample=3),
], ids=["convnext-crop-pct", "convnext-warp", "clip-no-rescale", "vit-no-normalize"])
def test_processor_settings_fold_into_the_preprocessing(settings, photo):
    kind = settings.pop("kind")
    pil = getattr(T, kind + "Pil")(**settings)
    pre, notes = from_hf_processor(pil, "x")
    ours = pre(PIL.Image.open(photo))
    expected = pil(PIL.Image.open(photo), return_tensors="pt")["pixel_values"][0]
    assert ours.shape == expected.shape and not notes
    assert (ours - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_an_unfollowed_size_is_said(photo):
    pre, notes = from_hf_processor({"size": {"shortest_edge": 800, "longest_edge": 1333}}, "detr")
    assert pre.resize == 800 and "caps the longer side at 1333" in notes[0]


@pytest.mark.parametrize("family", ["vit", "swin", "convnext"])
def test_class_names_come_from_id2label(family, folders):
    loaded = load_model(f"hf:{folders(family)}")
    assert loaded.classes == tuple(LABELS.values()) and loaded.task == "classification"
    x = loaded.preprocess(PIL.Image.new("RGB", (IMAGE, IMAGE), (200, 30, 30)))
    with torch.no_grad():
        top = loaded.predictions(loaded.module(x), k=3)[0]
    assert sorted(name for name, _ in top) == sorted(LABELS.values())


def test_clip_becomes_its_vision_tower(folders):
    loaded = load_model(f"hf:{folders('clip')}")
    assert isinstance(loaded.module, VisionEmbedding) and loaded.task == "embedding"
    names = [name for name, _ in loaded.module.named_modules() if name]
    assert names[0] == "vision_model" and "vision_model.encoder.layers.0.self_attn" in names
    assert "visual_projection" in names and not any("text" in name for name in names)
    assert any("vision tower only, output = image embedding" in note for note in loaded.notes)
    x = torch.rand(2, 3, IMAGE, IMAGE)
    with torch.no_grad():
        embedding = loaded.module(x)
    assert embedding.shape == (2, 16)
    assert loaded.predictions(embedding) is None  # an embedding is no class scores
    assert loaded.classes is None


@pytest.mark.parametrize("family,task", [("segformer", "segmentation"), ("detr", "detection")])
def test_dense_heads_load_with_their_task_and_give_no_predictions(family, task, folders):
    loaded = load_model(f"hf:{folders(family)}")
    assert loaded.task == task and loaded.to_dict()["task"] == task
    with torch.no_grad():
        out = loaded.module(torch.rand(1, 3, *loaded.preprocessing.input_size))
    assert loaded.predictions(out) is None


def test_a_bare_model_without_head_is_features(tmp_path):
    folder = tmp_path / "vit-bare"
    T.ViTModel(T.ViTConfig(image_size=IMAGE, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                           intermediate_size=64)).save_pretrained(folder)
    loaded = load_model(f"hf:{folder}")
    assert type(loaded.module).__name__ == "ViTModel" and loaded.task == "features" and loaded.classes is None
    assert "ImageNet defaults" in loaded.preprocessing.source
    assert any("no preprocessor_config.json" in note for note in loaded.notes)


def test_a_hub_name_fails_at_once_with_the_fix():
    start = time.perf_counter()
    with pytest.raises(ModelSpecError, match=r"not a local folder.*never a download.*save_pretrained.*then give hf:"):
        load_model("hf:google/vit-base-patch16-224")
    assert time.perf_counter() - start < 1.0


def test_a_folder_without_config_and_an_empty_spec_are_refused(tmp_path):
    with pytest.raises(ModelSpecError, match="has no config.json"):
        load_model(f"hf:{tmp_path}")
    with pytest.raises(ModelSpecError, match="names no folder"):
        load_model("hf:")


def test_a_folder_given_without_hf_says_so(folders):
    with pytest.raises(ModelSpecError, match=r"given as 'hf:"):
        build_from_spec(folders("vit"))


_CONFIG_CODE = """
import transformers
class TinyConfig(transformers.ViTConfig):
    model_type = "tiny-custom"
"""
_MODEL_CODE = """
import pathlib, transformers
pathlib.Path({marker!r}).write_text("ran")
from .configuration_tiny import TinyConfig
class TinyClassifier(transformers.ViTForImageClassification):
    config_class = TinyConfig
"""


def test_own_code_runs_only_when_trusted(tmp_path):
    """A folder whose config names code of its own (auto_map): refused without trust, before any of it runs."""
    folder = tmp_path / "custom"
    tiny("vit").save_pretrained(folder)
    marker = tmp_path / "ran.txt"  # the folder's code writes it when it runs
    (folder / "configuration_tiny.py").write_text(_CONFIG_CODE)
    (folder / "modeling_tiny.py").write_text(_MODEL_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="tiny-custom", architectures=["TinyClassifier"],
                  auto_map={"AutoConfig": "configuration_tiny.TinyConfig",
                            "AutoModelForImageClassification": "modeling_tiny.TinyClassifier"})
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsafeCheckpointError, match=r"auto_map.*trust_checkpoint=True \(CLI: --trust-checkpoint\)"):
        load_model(f"hf:{folder}")
    assert not marker.exists()
    loaded = load_model(f"hf:{folder}", trust_checkpoint=True)  # transformers copies the code to its modules cache
    assert type(loaded.module).__name__ == "TinyClassifier" and loaded.task == "classification"
    assert marker.read_text() == "ran"


def test_processor_defaults_are_the_processors_own():
    """A processor object answers for keys its JSON leaves out: reading it (not the JSON) gets them right."""
    pre, _ = from_hf_processor(processor("clip"), "clip")
    assert pre.resize == IMAGE and pre.crop == (IMAGE, IMAGE) and pre.interpolation == "bicubic"
    assert pre.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))


def test_siglip_becomes_its_vision_tower_too(tmp_path):
    vision = dict(image_size=IMAGE, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                  intermediate_size=64)
    text = dict(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = T.SiglipModel(T.SiglipConfig(vision_config=vision, text_config=text)).eval()
    model.save_pretrained(tmp_path)
    T.SiglipImageProcessor(size={"height": IMAGE, "width": IMAGE}).save_pretrained(tmp_path)
    loaded = load_model(f"hf:{tmp_path}")
    assert isinstance(loaded.module, VisionEmbedding) and loaded.module.visual_projection is None
    x = torch.rand(2, 3, IMAGE, IMAGE)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model.get_image_features(pixel_values=x).pooler_output)
    assert any("SiglipModel: vision tower only" in note for note in loaded.notes)


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_bin_weights_load_safely_and_objects_in_them_are_refused(tmp_path):
    model = tiny("vit")
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # the older format: a pickle of tensors
    x = torch.rand(1, 3, IMAGE, IMAGE)
    with torch.no_grad():
        assert torch.equal(load_model(f"hf:{tmp_path}").module(x).logits, model(x).logits)
    marker = tmp_path / "pwned"
    torch.save({**model.state_dict(), "evil": _Evil(str(marker))}, tmp_path / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match=r"Save it again as safetensors.*--trust-checkpoint"):
        load_model(f"hf:{tmp_path}")
    assert not marker.exists()
