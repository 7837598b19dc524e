"""LoadedModel provenance: notes agree with the weights, the native preprocessing survives overrides,
whole saved modules (TorchScript, .pt2, pickles) load when trusted and say whether hooks can reach them."""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file

from layerscope.errors import InputError, UnsafeCheckpointError
from layerscope.io import LoadedModel, Preprocessing, ensure_hookable, load_model

SPEC = "torchvision:squeezenet1_1"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ckpt") / "squeezenet.safetensors"
    save_file(torchvision.models.squeezenet1_1(weights=None).state_dict(), str(path))
    return str(path)


# --- notes agree with where the weights came from ------------------------------------------------


def test_checkpoint_drops_the_random_init_note(weights_file):
    assert "random init (seed 0)" in load_model(SPEC).notes
    loaded = load_model(SPEC, checkpoint=weights_file)
    assert loaded.weights == f"checkpoint {weights_file}"
    assert not [note for note in loaded.notes if "random init" in note]
    assert loaded.notes[0] == f"checkpoint {weights_file}: safetensors file"


def test_checkpoint_drops_the_builtin_accuracy_note(tmp_path):
    zoo = pytest.importorskip("layerscope.zoo")
    untrained = zoo.build_builtin("digits", trained=False)
    path = tmp_path / "digits.safetensors"
    save_file(untrained.state_dict(), str(path))
    assert any("held-out accuracy" in note for note in load_model("builtin:digits").notes)
    loaded = load_model("builtin:digits", checkpoint=path)
    assert not [note for note in loaded.notes if "accuracy" in note or "random init" in note]


def test_timm_checkpoint_keeps_the_preprocessing_note_only(tmp_path):
    timm = pytest.importorskip("timm")
    path = tmp_path / "r18.safetensors"
    save_file(timm.create_model("resnet18", pretrained=False).state_dict(), str(path))
    assert load_model("timm:resnet18").notes == [
        "random init (seed 0)",
        "preprocessing from the architecture's timm config",
    ]
    assert load_model("timm:resnet18", checkpoint=path).notes == [
        "preprocessing from the architecture's timm config",
        f"checkpoint {path}: safetensors file",
    ]


# --- native preprocessing and the overrides that changed it ------------------------------------


def test_overrides_keep_the_native_preprocessing():
    loaded = load_model(SPEC)
    assert loaded.native_preprocessing is loaded.preprocessing and loaded.overrides == {}
    sized = loaded.with_preprocessing(size=(160, 200), mean=[0.5])
    assert sized.native_preprocessing is loaded.preprocessing
    assert sized.overrides == {"size": (160, 200), "mean": [0.5]}
    again = sized.with_preprocessing(std=[0.25])
    assert again.native_preprocessing is loaded.preprocessing  # still the model's own, not the first override
    assert again.overrides == {"size": (160, 200), "mean": [0.5], "std": [0.25]}
    assert again.to_dict()["native_preprocessing"] == loaded.preprocessing.to_dict()
    assert again.to_dict()["overrides"] == {"size": [160, 200], "mean": [0.5], "std": [0.25]}


def test_no_override_values_record_nothing():
    loaded = load_model(SPEC).with_preprocessing(size=None, grayscale=None)
    assert loaded.overrides == {} and loaded.native_preprocessing is loaded.preprocessing
    assert "native_preprocessing" not in loaded.to_dict()


def test_preprocessing_argument_is_an_override_of_the_spec_one():
    mine = Preprocessing(resize=40, crop=(32, 32), source="mine")
    loaded = load_model(SPEC, preprocessing=mine)
    assert loaded.preprocessing is mine
    assert loaded.native_preprocessing.source == "ImageNet defaults (random-init torchvision model)"
    assert loaded.overrides == {"preprocessing": mine}


# --- whole saved modules: loaded when trusted; hooks reach eager and unflattened modules -----------


@pytest.fixture(scope="module")
def small() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return torchvision.models.squeezenet1_1(weights=None, num_classes=10).eval()


def test_pt2_file_as_the_model_keeps_the_layer_hierarchy(tmp_path, small):
    path = tmp_path / "squeezenet.pt2"
    x = torch.randn(1, 3, 64, 64)
    torch.export.save(torch.export.export(small, (x,)), str(path))
    loaded = load_model(str(path), trust_checkpoint=True)
    assert type(loaded.module).__name__ == "UnflattenedModule" and loaded.hookable
    ensure_hookable(loaded.module)
    seen = []
    handle = loaded.module.get_submodule("features.0").register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        torch.testing.assert_close(loaded.module(x), small(x))
    finally:
        handle.remove()
    assert seen == [torch.Size([1, 64, 31, 31])]
    assert loaded.preprocessing.input_size == (64, 64)
    assert "exported for input shape (1, 3, 64, 64)" in " ".join(loaded.notes)


def _script(module: nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(module).save(str(path))


def test_torchscript_file_as_the_model_is_marked_not_hookable(tmp_path, small):
    path = tmp_path / "squeezenet.torchscript"
    _script(small, path)
    loaded = load_model(str(path), trust_checkpoint=True)
    assert not loaded.hookable
    assert any("TorchScript modules cannot be hooked" in note for note in loaded.notes)
    with pytest.raises(InputError, match=r"TorchScript modules cannot be hooked; load the checkpoint's weights into "
                                         r"the Python model instead: --checkpoint FILE with a model spec"):
        ensure_hookable(loaded.module)


def test_eager_models_are_hookable():
    loaded = LoadedModel(nn.Conv2d(1, 1, 1), "x", Preprocessing(channels=1, mean=(0.5,), std=(0.5,)))
    assert loaded.hookable
    ensure_hookable(loaded.module)


# --- plain pickles: no torch warning leaks from probing; loadable with trust --------------------------


def test_plain_pickle_probe_leaks_no_warning_and_loads_with_trust(tmp_path, small):
    path = tmp_path / "weights.pkl"
    with open(path, "wb") as handle:
        pickle.dump(small.state_dict(), handle, protocol=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnsafeCheckpointError, match=r"weights\.pkl is a pickle file"):
            load_model("torchvision:squeezenet1_1", checkpoint=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        target = torchvision.models.squeezenet1_1(weights=None, num_classes=10)
        loaded = load_model(target, checkpoint=path, trust_checkpoint=True)
    assert torch.equal(loaded.module.features[0].weight, small.features[0].weight)
    assert "loaded as a full pickle (trusted)" in loaded.notes
