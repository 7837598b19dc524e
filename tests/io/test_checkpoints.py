"""Checkpoints: safe state-dict loading, content sniffing, strict key checks, and no code run without trust."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
from safetensors.torch import save_file

from layerscope.errors import CheckpointError, ModelSpecError, UnsafeCheckpointError
from layerscope.io import load_model, sniff_checkpoint
from layerscope.io.checkpoints import read_state_dict

SPEC = "torchvision:squeezenet1_1"  # a real architecture, 1.2M parameters


@pytest.fixture(scope="module")
def source() -> nn.Module:
    """squeezenet1_1 with weights unlike the seed-0 random init that load_model builds."""
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        return torchvision.models.squeezenet1_1(weights=None).eval()


def _assert_loaded_from(module: nn.Module, source: nn.Module) -> None:
    expected = source.state_dict()
    actual = module.state_dict()
    assert actual.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)


def _prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


WRAPPINGS = {
    "plain": lambda sd: sd,
    "state_dict-wrapper": lambda sd: {"state_dict": sd, "epoch": 3},
    "module-prefix": lambda sd: _prefixed(sd, "module."),
    "model-wrapper+module-prefix": lambda sd: {"model": _prefixed(sd, "module."), "optimizer": {}},
    "compiled+ddp": lambda sd: {"model_ema": _prefixed(sd, "module._orig_mod.")},
}


class _Evil:
    """Unpickling this creates ``marker`` (the file is the proof that code ran)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _Whole(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        return self.conv(x)


# --- safe formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapping", list(WRAPPINGS))
def test_torch_save_round_trip(tmp_path, source, wrapping):
    path = tmp_path / "weights.pt"
    torch.save(WRAPPINGS[wrapping](source.state_dict()), path)
    loaded = load_model(SPEC, checkpoint=path)
    _assert_loaded_from(loaded.module, source)
    assert loaded.weights == f"checkpoint {path}"


def test_legacy_torch_save_format(tmp_path, source):
    path = tmp_path / "legacy.pth"
    torch.save({"state_dict": source.state_dict()}, path, _use_new_zipfile_serialization=False)
    assert sniff_checkpoint(path).kind == "torch-legacy"
    _assert_loaded_from(load_model(SPEC, checkpoint=path).module, source)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_safetensors_round_trip(tmp_path, source, prefix):
    path = tmp_path / "weights.safetensors"
    save_file(_prefixed(source.state_dict(), prefix), str(path))
    loaded = load_model(SPEC, checkpoint=path)
    _assert_loaded_from(loaded.module, source)
    assert any("safetensors" in note for note in loaded.notes)


def test_safetensors_named_pt_is_sniffed_from_content(tmp_path, source):
    path = tmp_path / "really_safetensors.pt"
    save_file(source.state_dict(), str(path))
    assert sniff_checkpoint(path).kind == "safetensors"
    _assert_loaded_from(load_model(SPEC, checkpoint=path).module, source)


def test_state_dict_named_safetensors_is_sniffed_from_content(tmp_path, source):
    path = tmp_path / "really_torch.safetensors"
    torch.save(source.state_dict(), path)
    assert sniff_checkpoint(path).kind == "torch-zip"
    _assert_loaded_from(load_model(SPEC, checkpoint=path).module, source)


# --- misfits: strict, with counts and the first keys; nothing half-loaded --------------------------


def test_missing_and_unexpected_keys_are_reported(tmp_path, source):
    state = dict(source.state_dict())
    state["head.weight"] = state.pop("classifier.1.weight")
    state["head.bias"] = state.pop("classifier.1.bias")
    path = tmp_path / "renamed.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_model(SPEC, checkpoint=path)
    message = str(info.value)
    assert "2 missing keys (classifier.1.weight, classifier.1.bias)" in message
    assert "2 unexpected keys (head.weight, head.bias)" in message
    assert "renamed.pt does not fit the model (SqueezeNet)" in message


def test_shape_mismatch_is_reported(tmp_path):
    import torchvision

    path = tmp_path / "ten_classes.pt"
    torch.save(torchvision.models.squeezenet1_1(weights=None, num_classes=10).state_dict(), path)
    expected = (
        r"2 shape mismatches \(classifier\.1\.weight: checkpoint \(10, 512, 1, 1\) vs model \(1000, 512, 1, 1\), "
        r"classifier\.1\.bias: checkpoint \(10,\) vs model \(1000,\)\)"
    )
    with pytest.raises(CheckpointError, match=expected):
        load_model(SPEC, checkpoint=path)


def test_many_missing_keys_are_counted_and_model_left_untouched(tmp_path):
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(8)])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = tmp_path / "partial.safetensors"
    save_file({"0.weight": torch.ones(2, 2), "0.bias": torch.ones(2)}, str(path))
    with pytest.raises(CheckpointError, match=r"14 missing keys \(1\.weight, 1\.bias, 2\.weight, 2\.bias, 3\.weight, \.\.\. \(9 more\)\)"):
        load_model(model, checkpoint=path)
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in before)


def test_dict_without_state_dict_names_its_keys(tmp_path):
    path = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(CheckpointError, match=r"holds a dict with keys 'epoch', 'lr', not a state dict"):
        load_model(SPEC, checkpoint=path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text, not weights\n", r"is not a checkpoint layerscope can read"),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 32, r"looks like HDF5 \(Keras\)"),
    ],
    ids=["text", "hdf5"],
)
def test_unknown_formats(tmp_path, content, message):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_model(SPEC, checkpoint=path)


def test_npz_zip_is_not_a_pytorch_archive(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(CheckpointError, match=r"is a zip archive but not a PyTorch one"):
        sniff_checkpoint(path)


def test_truncated_torch_save_is_a_checkpoint_error(tmp_path, source):
    full = tmp_path / "full.pt"
    torch.save(source.state_dict(), full)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(full.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"cut\.pt"):
        load_model(SPEC, checkpoint=cut)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such file"):
        load_model(SPEC, checkpoint=tmp_path / "nope.pt")


def test_state_dict_given_as_the_model_explains(tmp_path, source):
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    with pytest.raises(ModelSpecError, match=r"holds only weights .*checkpoint"):
        load_model(str(path))


# --- code-running formats: refused without trust, loaded with it ----------------------------------


def _torchscript(path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated but still written by users
        torch.jit.script(_Whole()).save(str(path))


def _exported(path) -> None:
    torch.export.save(torch.export.export(_Whole(), (torch.zeros(1, 1, 5, 5),)), str(path))


def _whole_pickle(path) -> None:
    torch.save(_Whole(), path)


CODE_FILES = {
    "torchscript": (_torchscript, "TorchScript archive"),
    "torch-export": (_exported, r"torch\.export / AOTInductor \.pt2 archive"),
    "whole-pickle": (_whole_pickle, r"torch\.save archive: it holds pickled objects.*would run code \(it needs .*_Whole"),
}


@pytest.mark.parametrize("kind", list(CODE_FILES))
def test_code_running_checkpoint_refused_without_trust(tmp_path, kind):
    write, description = CODE_FILES[kind]
    path = tmp_path / "model.bin"  # the extension says nothing: the content decides
    write(path)
    with pytest.raises(UnsafeCheckpointError, match=rf"{description}.*trust_checkpoint=True \(CLI: --trust-checkpoint\)"):
        load_model(_Whole(), checkpoint=path)


@pytest.mark.parametrize("kind", ["torchscript", "whole-pickle", "torch-export"])
def test_trusted_checkpoint_weights_applied_to_the_spec_architecture(tmp_path, kind):
    path = tmp_path / "model.pt"
    CODE_FILES[kind][0](path)
    saved, _ = read_state_dict(path, trust=True)
    target = _Whole()
    loaded = load_model(target, checkpoint=path, trust_checkpoint=True)
    assert loaded.module is target  # the eager module stays: its layers can be hooked
    torch.testing.assert_close(target.conv.weight, saved["conv.weight"])


@pytest.mark.parametrize(
    ("kind", "module_type", "channels", "hookable"),
    [
        ("torchscript", "RecursiveScriptModule", 3, False),  # a ScriptModule hides its first conv
        ("whole-pickle", "_Whole", 1, True),
        ("torch-export", "UnflattenedModule", 1, True),  # channels from the export's example input
    ],
)
def test_trusted_file_given_as_the_model_replaces_it(tmp_path, kind, module_type, channels, hookable):
    path = tmp_path / "model.pt"
    CODE_FILES[kind][0](path)
    loaded = load_model(str(path), trust_checkpoint=True)
    assert type(loaded.module).__name__ == module_type
    assert (loaded.preprocessing.channels, loaded.hookable) == (channels, hookable)
    assert "trusted" in loaded.notes[0]


def test_trusted_file_given_as_the_model_refused_without_trust(tmp_path):
    path = tmp_path / "model.pt"
    _torchscript(path)
    with pytest.raises(UnsafeCheckpointError, match="TorchScript archive"):
        load_model(str(path))


def _evil_torch_save(obj, path):
    torch.save(obj, path)


def _evil_plain_pickle(obj, path):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


@pytest.mark.parametrize("writer", [_evil_torch_save, _evil_plain_pickle], ids=["torch.save", "pickle.dump"])
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "in-state_dict"])
@pytest.mark.parametrize("as_model", [False, True], ids=["as-checkpoint", "as-model"])
def test_malicious_pickle_never_runs_without_trust(tmp_path, writer, wrapped, as_model):
    marker = tmp_path / "pwned.txt"
    evil = _Evil(str(marker))
    path = tmp_path / "innocent.safetensors"
    writer({"state_dict": evil} if wrapped else evil, path)
    with pytest.raises(UnsafeCheckpointError, match=r"innocent\.safetensors .*would run code"):
        if as_model:
            load_model(str(path))
        else:
            load_model(SPEC, checkpoint=path)
    assert not marker.exists()
