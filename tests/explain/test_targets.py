"""explain/targets.py: importance for any target (class, function, box, mask, embedding), against captum.

The oracle is captum's ``LayerGradientXActivation`` summed over space, run on a forward function that
returns the SAME target's score; the hand-set models give scores whose importance is a literal.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

from layerscope import show
from layerscope.cli import main
from layerscope.errors import InputError
from layerscope.explain import importance
from layerscope.explain.ranking import rank_batch
from layerscope.explain.targets import Box, Class, Embedding, Function, Mask, as_target, parse_target
from layerscope.io import LoadedModel, Preprocessing

captum_attr = pytest.importorskip("captum.attr", reason="captum is the oracle (pip install '.[test]')")

RELATIVE = 1e-6


def _captum(model: nn.Module, layer: str, x: torch.Tensor, score) -> torch.Tensor:
    """captum's gradient x activation of ``layer`` for ``score(model(x))`` (one per input), summed over space."""
    method = captum_attr.LayerGradientXActivation(lambda inputs: score(model(inputs)), model.get_submodule(layer))
    attribution = method.attribute(x).detach()
    return attribution.flatten(2).sum(2) if attribution.dim() > 2 else attribution


def _assert_matches_captum(result, model, layers, x, goal, size=None):
    for layer in layers:
        expected = _captum(model, layer, x, lambda out: goal.score(out, size))
        scale = float(expected.abs().max())
        assert scale > 0, f"{layer}: the oracle's importance is all zero; the test could not fail"
        error = float((result[layer] - expected).abs().max()) / scale
        assert error <= RELATIVE, f"{layer}: max difference {error:.2e} of the largest importance"


# ---- the oracle tests: each target kind on a model of its task ---------------------------------------------------


@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=4, box_score_thresh=0.0, min_size=64, max_size=64,
        rpn_post_nms_top_n_test=20, box_detections_per_img=20)
    nn.init.normal_(model.roi_heads.box_predictor.cls_score.weight, std=0.5)  # distinct scores, larger gradients
    return model.eval()


@pytest.mark.slow
def test_box_importance_on_a_torchvision_detector_matches_captum(detector):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        found = detector(x)
    assert all(len(d["boxes"]) > 0 for d in found), "the random-init detector must predict something"
    first = found[0]["boxes"][0].tolist()
    goal = Box(*first, label=int(found[0]["labels"][0]))
    layers = ["backbone.body.3", "backbone.body.12"]
    result = importance(detector, x, layers, target=goal)
    assert result.value[0] == found[0]["scores"][0]  # the box of the first prediction matches it (IoU 1)
    _assert_matches_captum(result, detector, layers, x, goal)
    assert result.target.tolist() == [-1, -1] and "box" in repr(result)


@pytest.fixture(scope="module")
def segmenter():
    torch.manual_seed(0)
    return torchvision.models.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=3).eval()


@pytest.mark.slow
@pytest.mark.parametrize("mask", ["half", "per-input", "rectangle", None])
def test_mask_importance_on_a_torchvision_segmenter_matches_captum(segmenter, mask):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    region = {"half": torch.arange(64)[None, :].expand(64, 64) < 32,
              "per-input": torch.rand(2, 64, 64, generator=torch.Generator().manual_seed(2)) > 0.5,
              "rectangle": (8, 16, 40, 48), None: None}[mask]
    goal = Mask(region, cls=2)
    layers = ["backbone.2", "backbone.12"]
    result = importance(segmenter, x, layers, target=goal)
    _assert_matches_captum(result, segmenter, layers, x, goal, size=(64, 64))


@pytest.mark.slow
def test_embedding_importance_matches_captum():
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    model.fc = nn.Identity()
    model.eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        reference = model(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4)))[0]
    goal = Embedding(reference)
    layers = ["layer1.0.conv1", "layer4.1.conv2", "avgpool"]
    result = importance(model, x, layers, target=goal)
    torch.testing.assert_close(result.value, torch.cosine_similarity(model(x), reference[None], dim=1))
    _assert_matches_captum(result, model, layers, x, goal)


LAYERS = ["layer2.1.conv2", "layer4.1.conv2"]


@pytest.mark.slow
def test_callable_importance_matches_captum(resnet, images):
    def margin(out):  # log-probability of class 3 against the rest
        return out.log_softmax(1)[:, 3]

    result = importance(resnet, images, LAYERS, target=margin)
    assert isinstance(result.goal, Function)
    _assert_matches_captum(result, resnet, LAYERS, images, Function(margin))


@pytest.mark.slow
def test_class_name_importance_matches_captum(resnet, images):
    classes = tuple(f"class-{i}" for i in range(1000))
    named = LoadedModel(resnet, "resnet18", Preprocessing(64, (64, 64), (0.5,) * 3, (0.5,) * 3, 3), classes=classes)
    result = importance(named, images, LAYERS, target="class-7")
    assert result.target.tolist() == [7, 7, 7]
    _assert_matches_captum(result, resnet, LAYERS, images, Class(7))


@pytest.mark.slow
def test_box_on_a_hugging_face_detr_output_matches_captum():
    pytest.importorskip("transformers")
    from tests.hf.tiny import tiny

    detr, x = tiny("detr"), torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = detr(x)
    probs, boxes = out.logits.softmax(-1)[0, :, :-1], out.pred_boxes[0]
    q = int(probs.max(-1).values.argmax())
    cx, cy, w, h = (boxes[q] * 64).tolist()
    goal = Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    layers = ["model.backbone.model.encoder.stages.1", "model.input_projection"]
    result = importance(detr, x, layers, target=goal)
    torch.testing.assert_close(result.value, probs[q].max()[None])
    _assert_matches_captum(result, detr, layers, x, goal, size=(64, 64))


@pytest.mark.slow
def test_mask_on_a_hugging_face_segformer_output_matches_captum():
    pytest.importorskip("transformers")
    from tests.hf.tiny import tiny

    segformer, x = tiny("segformer"), torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    goal = Mask(torch.ones(32, 32).triu().bool(), cls=1)  # logits at 8 x 8, resized to the 32 x 32 mask
    layers = ["segformer.stages.0.patch_embeddings.proj", "decode_head.linear_fuse"]
    result = importance(segformer, x, layers, target=goal)
    _assert_matches_captum(result, segformer, layers, x, goal, size=(32, 32))


# ---- hand-set weights: the scores and importances are literals ----------------------------------------------------


def _conv(*weights: float) -> nn.Conv2d:
    conv = nn.Conv2d(1, len(weights), 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weights)[:, None, None, None])
    return conv


def test_mask_on_hand_set_weights():
    """Logits 1*x and 2*x of a 2 x 2 input of ones; class 1 on the diagonal: 2 + 2."""
    model = nn.Sequential(_conv(1.0, 2.0))
    result = importance(model, torch.ones(1, 1, 2, 2), "0", target=Mask(torch.eye(2), cls=1))
    assert result.value.tolist() == [4.0] and result["0"].tolist() == [[0.0, 4.0]]


class _Detector(nn.Module):
    """Two channels; each prediction's score is its channel's sum; fixed boxes and labels (torchvision's dicts)."""

    def __init__(self, boxes):
        super().__init__()
        self.conv, self.boxes = _conv(1.0, 3.0), torch.tensor(boxes)

    def forward(self, x):
        scores = self.conv(x).flatten(2).sum(2)
        return [{"boxes": self.boxes, "scores": s, "labels": torch.tensor([1, 2])} for s in scores]


@pytest.mark.parametrize("box, value, channels", [
    ((0, 0, 4, 4), 4.0, [4.0, 0.0]),  # IoU 1 with prediction 0
    ((1, 1, 8, 8), 12.0, [0.0, 12.0]),  # IoU 0.35 with prediction 0, 0.51 with prediction 1
    (Box(0, 0, 4, 4, label=2), 12.0, [0.0, 12.0]),  # only prediction 1 has label 2
])
def test_box_on_hand_set_weights(box, value, channels):
    model = _Detector([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0]])
    result = importance(model, torch.ones(1, 1, 2, 2), "conv", target=box if isinstance(box, Box) else Box(*box))
    assert result.value.tolist() == [value] and result["conv"].tolist() == [channels]


def test_box_on_a_detr_like_output_with_hand_set_values():
    """.pred_boxes (centre, size as fractions of a 10 x 20 input) and .logits with a last no-object class."""
    probabilities = torch.tensor([[[1.0, 0.0, 1.0], [1.0, 3.0, 0.0]]], dtype=torch.float64)  # softmax of the logs
    output = types.SimpleNamespace(pred_boxes=torch.tensor([[[0.5, 0.5, 1.0, 1.0], [0.25, 0.25, 0.5, 0.5]]]),
                                   logits=probabilities.log().nan_to_num(neginf=-1e9))
    # query 0: the whole 20 x 10 input, class 0 at 0.5; query 1: x 0..10, y 0..5, class 1 at 0.75
    assert Box(0, 0, 10, 5).score(output, size=(10, 20)).tolist() == pytest.approx([0.75], rel=1e-12)
    assert Box(0, 0, 20, 10).score(output, size=(10, 20)).tolist() == pytest.approx([0.5], rel=1e-12)
    assert Box(0, 0, 20, 10, label=1).score(output, size=(10, 20)).tolist() == pytest.approx([0.75], rel=1e-12)


def test_embedding_on_hand_set_weights():
    """Embedding e = (3, 4), reference (1, 0): cos = 3 / 5; d cos / de = (b^2, -ab) / |e|^3 = (16, -12) / 125."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
    result = importance(model, torch.tensor([[3.0, 4.0]]), "1", target=Embedding([1.0, 0.0]))
    torch.testing.assert_close(result.value, torch.tensor([0.6]))
    torch.testing.assert_close(result["1"], torch.tensor([[3 * 16 / 125, -4 * 12 / 125]]))


def test_callable_on_hand_set_weights():
    model = nn.Sequential(_conv(1.0, 2.0), nn.Flatten())  # (N, 8): 4 values of channel 0, then 4 of channel 1
    result = importance(model, torch.ones(1, 1, 2, 2), "0", target=lambda out: out[:, 0] - out[:, 7])
    assert result.value.tolist() == [-1.0] and result["0"].tolist() == [[1.0, -2.0]]


# ---- parsing, errors, the CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("7", "Class(7)"), ("tabby", "Class('tabby')"), ("class:box", "Class('box')"),
    ("box:10,10,50,60", "Box(10.0, 10.0, 50.0, 60.0)"), ("box:10,10,50,60:3", "Box(10.0, 10.0, 50.0, 60.0, label=3)"),
    ("mask:road", "Mask(everywhere, cls='road')"), ("mask:1:0,0,8,8", "Mask((0.0, 0.0, 8.0, 8.0), cls=1)"),
])
def test_parse_target(text, expected):
    assert repr(parse_target(text)) == expected


def test_parse_files(tmp_path):
    np.save(tmp_path / "v.npy", np.array([1.0, 2.0], dtype=np.float32))
    np.save(tmp_path / "m.npy", np.eye(3, dtype=bool))
    torch.save(torch.tensor([0.0, 1.0]), tmp_path / "v.pt")
    assert parse_target(f"embedding:{tmp_path / 'v.npy'}").vector.tolist() == [1.0, 2.0]
    assert parse_target(f"embedding:{tmp_path / 'v.pt'}").vector.tolist() == [0.0, 1.0]
    assert parse_target(f"mask:1:{tmp_path / 'm.npy'}").mask.tolist() == np.eye(3).tolist()


def test_names_resolve_with_the_classes():
    classes = ("cat", "dog", "car")
    assert repr(as_target("box:0,0,5,5:car", classes)) == "Box(0.0, 0.0, 5.0, 5.0, label=2)"
    assert as_target(Mask(None, "dog"), classes).cls == 1 and as_target("dog", classes).index == 1


@pytest.mark.parametrize("target, match", [
    ("box:1,2,3", r"four numbers x0, y0, x1, y1.*--target box:10,10,50,60"),
    ("box:5,5,1,1", r"is empty: give x0 < x1 and y0 < y1"),
    ("bbox:1,2,3,4", r"Unknown target kind 'bbox'. Did you mean 'box'"),
    ("embedding:missing.npy", r"does not exist; give a .npy or .pt file"),
    ("box:0,0,5,5:truck", r"box label 'truck'.*not one of this model's 3 classes"),
    ("mask:bus", r"mask class 'bus'.*not one of this model's 3 classes"),
    (2.5, "must be a class index or a class name"),
])
def test_bad_targets_name_the_fix(target, match):
    with pytest.raises(InputError, match=match):
        as_target(target, ("cat", "dog", "car"))


@pytest.mark.parametrize("target, match", [
    (Box(0, 0, 4, 4), r"box target needs a detection output.*For a classifier give a class \(--target 3\)"),
    (Mask(None, 0), r"mask target needs a segmentation output.*For a classifier give a class"),
    (Embedding([1.0, 2.0]), r"reference vector has 2 values; the model's embedding has 10"),
    (lambda out: out, r"must return a tensor of one score per input \(shape \(3,\)\)"),
    (lambda out: torch.ones(3), r"does not depend on the model's output"),
])
def test_a_target_that_does_not_fit_the_output_names_the_fix(target, match):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 10))
    with pytest.raises(InputError, match=match):
        importance(model, torch.rand(3, 3, 2, 2), "1", target=target)


def test_a_class_on_a_segmentation_output_points_to_mask():
    with pytest.raises(InputError, match=r"returned tensor of shape \(1, 2, 2, 2\), dtype float32. For segmentation"):
        importance(nn.Sequential(_conv(1.0, 2.0)), torch.ones(1, 1, 2, 2), "0", target=1)


def test_a_box_nothing_overlaps_names_the_threshold():
    with pytest.raises(InputError, match=r"No prediction overlaps box 20,20,30,30 on input 0.*box_score_thresh"):
        importance(_Detector([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0]]), torch.ones(1, 1, 2, 2), "conv",
                   target=Box(20, 20, 30, 30))


def test_ranking_names_what_it_explains():
    model = _Detector([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0]])
    ranked = rank_batch(model, torch.ones(2, 1, 2, 2), ["conv"], target="box:1,1,8,8")
    assert ranked.target == ["box 1,1,8,8", "box 1,1,8,8"] and ranked.order["conv"].tolist() == [[1, 0], [1, 0]]


def test_show_ranks_by_a_box_and_names_it():
    model = _Detector([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0]])
    shown = show(model, torch.ones(1, 1, 2, 2), ["conv"], rank="importance", target="box:1,1,8,8", views="grid,importance")
    entry = shown.inputs[0]
    assert entry["importance_target"] == "box 1,1,8,8" and entry["grids"]["conv"]["channels"] == [1, 0]


@pytest.mark.parametrize("flag, match", [
    ("box:1,2", "four numbers x0, y0, x1, y1"),
    ("mask:1:9,9,1,1", "is empty"),
])
def test_cli_bad_target_is_exit_2_before_the_model_loads(flag, match, capsys, tmp_path):
    code = main(["show", "builtin:digits", str(tmp_path / "missing.png"), "--rank", "importance", "--target", flag,
                 "--out", str(tmp_path / "out")])
    assert code == 2 and match in capsys.readouterr().err
