"""One spine: every verb is a consumer of the same run, so the same model and input give the same answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

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
