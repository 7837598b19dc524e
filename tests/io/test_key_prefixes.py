"""Checkpoint keys with a wrapper's prefix (Lightning `model.`, `net.`, `backbone.` ...) fit, or the error names it."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file

from layerscope.errors import CheckpointError
from layerscope.io import load_model

SPEC = "torchvision:squeezenet1_1"


@pytest.fixture(scope="module")
def source() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(99)
        return torchvision.models.squeezenet1_1(weights=None).eval()


def _prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


def _same(module: nn.Module, source: nn.Module) -> bool:
    a, b = module.state_dict(), source.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("prefix", ["model.", "net.", "backbone.", "encoder.", "model.module.", "student.model."])
def test_common_prefix_is_stripped_with_a_note(tmp_path, source, prefix):
    path = tmp_path / "lightning.ckpt"
    torch.save({"model": _prefixed(source.state_dict(), prefix), "epoch": 7}, path)
    loaded = load_model(SPEC, checkpoint=path)
    assert _same(loaded.module, source)
    assert f"stripped the prefix {prefix!r} from every checkpoint key to fit the model" in loaded.notes


def test_lightning_state_dict_wrapper_with_model_prefix(tmp_path, source):
    path = tmp_path / "epoch=3.ckpt"
    torch.save({"state_dict": _prefixed(source.state_dict(), "model."), "optimizer_states": [], "epoch": 3}, path)
    assert _same(load_model(SPEC, checkpoint=path).module, source)


class _Wrapped(nn.Module):
    """The architecture inside a wrapper: its keys are the checkpoint's with ``backbone.`` in front."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = torchvision.models.squeezenet1_1(weights=None)

    def forward(self, x):
        return self.backbone(x)


def test_model_keys_with_a_prefix_take_a_bare_checkpoint(tmp_path, source):
    path = tmp_path / "bare.safetensors"
    save_file(source.state_dict(), str(path))
    loaded = load_model(_Wrapped(), checkpoint=path)
    assert _same(loaded.module.backbone, source)
    assert "added the prefix 'backbone.' to every checkpoint key to fit the model" in loaded.notes


def test_prefix_swapped_between_wrappers(tmp_path, source):
    path = tmp_path / "swapped.safetensors"
    save_file(_prefixed(source.state_dict(), "net."), str(path))
    loaded = load_model(_Wrapped(), checkpoint=path)
    assert _same(loaded.module.backbone, source)
    assert "replaced the prefix 'net.' with 'backbone.' in every checkpoint key to fit the model" in loaded.notes


def test_prefix_plus_foreign_keys_is_an_error_naming_the_prefix(tmp_path, source):
    state = _prefixed(source.state_dict(), "model.")
    state["criterion.weight"] = torch.ones(1000)
    path = tmp_path / "with_loss.ckpt"
    torch.save({"state_dict": state}, path)
    expected = (
        r"Hint: 52 of the checkpoint's 53 keys fit the model once the prefix 'model\.' is removed; "
        r"the other 1 \(criterion\.weight\) are not the model's\. Save only the model's weights"
    )
    with pytest.raises(CheckpointError, match=expected):
        load_model(SPEC, checkpoint=path)


def test_unrelated_keys_give_no_hint(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"model.head.weight": torch.ones(2, 2)}, str(path))
    with pytest.raises(CheckpointError, match=r"does not fit the model") as info:
        load_model(SPEC, checkpoint=path)
    assert "Hint" not in str(info.value)
