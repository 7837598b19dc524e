"""One spine: every verb is a consumer of the same run, so the same model and input give the same answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import layerscope as ls
from layerscope.io import LoadedModel, Preprocessing

CLASSES = ("cat", "dog", "bird")
EXPECTED = [("cat", 0.665), ("dog", 0.245), ("bird", 0.09)]  # softmax([2, 1, 0]), rounded to 3 digits


def _classifier(softmax: bool) -> LoadedModel:
    """A conv whose maps are constant (weights 0, biases 2, 1, 0), pooled to the logits [2, 1, 0]; with
    ``softmax`` the model's last layer turns them into the probabilities themselves."""
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.copy_(torch.tensor([2.0, 1.0, 0.0]))
    layers = [conv, nn.AdaptiveAvgPool2d(1), nn.Flatten()] + ([nn.Softmax(dim=1)] if softmax else [])
    return LoadedModel(nn.Sequential(*layers), "test:constant", Preprocessing(), classes=CLASSES)


def _pairs(predictions) -> list[tuple[str, float]]:
    """(class, probability) pairs from a list of pairs or of ``{"class", "probability"}`` dicts."""
    return [(p["class"], p["probability"]) if isinstance(p, dict) else (p[0], p[1]) for p in predictions]


@pytest.mark.parametrize("softmax", [True, False], ids=["softmax-output", "logits-output"])
def test_predictions_agree_across_verbs(softmax):
    model, x = _classifier(softmax), torch.rand(1, 3, 8, 8)
    shown = _pairs(ls.show(model, x, ["0"]).inputs[0]["predictions"])[:3]
    diagnosed = _pairs(ls.diagnose(model, x, ["0"], channel_order=False).predictions[0][1])[:3]
    reported = _pairs(ls.report(model, x, ["0"], diagnosis=False).page.inputs[0].predictions)[:3]
    assert shown == diagnosed == reported == EXPECTED


@pytest.mark.parametrize("softmax", [True, False], ids=["softmax-output", "logits-output"])
def test_the_same_photo_gets_the_same_predictions_in_show_diagnose_report_and_the_explorer(softmax, tmp_path):
    """A real image file through each verb's own way in (the explorer: an upload), one prediction rule."""
    Explorer = pytest.importorskip("layerscope.serve").Explorer
    model, photo = _classifier(softmax), tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(photo)
    shown = _pairs(ls.show(model, str(photo), ["0"], tmp_path / "maps").inputs[0]["predictions"])[:3]
    diagnosed = _pairs(ls.diagnose(model, str(photo), ["0"]).predictions[0][1])[:3]
    reported = _pairs(ls.report(model, str(photo), ["0"], diagnosis=False).page.inputs[0].predictions)[:3]
    explorer = Explorer(model, samples=False)
    uploaded = explorer.add_upload(photo.read_bytes(), "photo.png", "image/png")[0]
    explored = _pairs(explorer._analysis(uploaded).predictions[0])[:3]
    assert shown == diagnosed == reported == explored == EXPECTED


def test_every_result_saves_under_the_one_output_rule(tmp_path):
    """capture's Activations and the scan's ScanStats are Results too: to_dict, summary, save(out, overwrite=)."""
    from safetensors.torch import load_file

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    x = torch.rand(2, 3, 9, 9)
    acts = ls.capture(model, x)
    out = acts.save(tmp_path / "acts")
    saved = load_file(out / "activations.safetensors")
    assert sorted(saved) == ["1", "2"]  # the ReLU after the first conv, the last conv
    assert all(torch.equal(saved[name], acts[name]) for name in acts)
    index = json.loads((out / "activations.json").read_text())
    assert index["files"] == ["activations.safetensors"] and index["layers"]["1"]["shape"] == [2, 4, 7, 7]
    assert acts.save(tmp_path / "acts") == out  # a rerun replaces its own files
    stats = ls.scan(model, x, out=tmp_path / "scan", k=2, progress=False)
    copy = stats.save(tmp_path / "copy")
    again = ls.load_stats(copy)
    assert again.layers == stats.layers and again.inputs == 2 and "2 inputs" in stats.summary()
    np.testing.assert_array_equal(again["1"].top.index, stats["1"].top.index)
    with pytest.raises(ls.InputError, match="already holds stats.safetensors, which layerscope did not write"):
        stats.save(tmp_path / "scan")  # the scan's own folder: its state is no file of a save's index
