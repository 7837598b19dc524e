"""The explorer as a consumer of the spine: one Subject, its preprocessing, the one predictions rule, LayerMaps."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import layerscope as ls
from layerscope.errors import InputError
from layerscope.run import Subject
from layerscope.serve import Explorer

from .helpers import PRE, jpeg, png, stripes


def softmax_model() -> ls.LoadedModel:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3),
                           nn.Softmax(dim=1))
    return ls.LoadedModel(module, "tests:softmax", PRE, classes=("cat", "dog", "bird"))


@pytest.fixture(scope="module")
def explorer():
    return Explorer(softmax_model(), samples=False)


def test_the_model_is_resolved_once_as_a_subject_and_a_subject_is_taken_as_is():
    subject = Subject.of(softmax_model())
    explorer = Explorer(subject, samples=False)
    assert explorer.subject is subject and explorer.layer_names == ["1"]  # the ReLU after the conv


def test_predictions_are_the_one_rule_probabilities_not_softmaxed_again(explorer):
    picture = stripes(True)
    with torch.no_grad():
        expected = explorer.subject.module(PRE(Image.fromarray(picture))[None])[0]
    best = int(expected.argmax())
    answer = explorer.live_frame(png(picture), layer=0, max_channels=4)
    name, probability = answer["predictions"][0]
    assert name == ("cat", "dog", "bird")[best] and probability == pytest.approx(float(expected[best]), abs=1e-3)
    item = explorer.add_array(picture, "stripes")
    assert explorer._analysis(item).predictions == explorer.subject.predictions(expected[None], k=5)


def test_uploads_go_through_the_subjects_preprocessing(explorer):
    item = explorer.add_upload(jpeg(stripes(False, size=48)), "wide.jpg", "image/jpeg")[0]
    analysis = explorer._analysis(item)
    torch.testing.assert_close(analysis.tensor, PRE(item.image)[None])  # resized and cropped to 32 x 32, normalized
    assert tuple(analysis.tensor.shape) == (1, 3, 32, 32)


def test_a_layer_that_is_not_a_map_is_refused_with_the_reason_once():
    module = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 30 * 30, 68), nn.Unflatten(1, (34, 2)))
    explorer = Explorer(ls.LoadedModel(module, "tests:unflatten", PRE), layers=["0", "3"], samples=False)
    for _ in range(2):  # the second time from LayerMaps' memory of the skip
        with pytest.raises(InputError, match=r"Cannot infer the layout of an activation of shape \(1, 34, 2\)"):
            explorer.live_frame(png(stripes(True)), layer=1)
    assert list(explorer.layer_maps.skipped) == ["3"]
    assert explorer.live_frame(png(stripes(True)), layer=0)["layer"] == "0"


def test_the_views_registry_draws_the_same_pictures_in_the_explorer_as_in_show(tmp_path):
    """One view registry: the explorer asked for ``overlay`` shows under the analysed layer the picture ``show``
    writes for the same model, upload and layer."""
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    model = ls.LoadedModel(module, "tests:conv", PRE, weights="hand-set")
    explorer = Explorer(model, samples=False, views=("overlay",))
    picture = stripes(True)
    item = explorer.add_array(picture, "stripes")
    html = explorer.analyze(item.id, layer=0)["html"]
    embedded = dict(re.findall(r'data-view="(\w+)" src="data:image/png;base64,([^"]+)"', html))
    Image.fromarray(picture).save(tmp_path / "stripes.png")
    shown = ls.show(model, str(tmp_path / "stripes.png"), ["1"], tmp_path / "maps", views="grid,overlay")
    written = np.asarray(Image.open(shown.out / shown.inputs[0]["views"]["overlay"]["1"]))
    drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(embedded["overlay"]))))
    np.testing.assert_array_equal(drawn, written)
    with pytest.raises(InputError, match="Unknown view 'overlai'. Did you mean 'overlay'"):
        Explorer(model, samples=False, views=("overlai",))
