"""One spine: every verb is a consumer of the same run, so the same model and input give the same answers."""

from __future__ import annotations

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
