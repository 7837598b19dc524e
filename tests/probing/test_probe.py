"""Linear probes: hand-set features whose accuracy and selectivity are known, labels from every input kind,
and the saved result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import Dataset

import layerscope as ls
from layerscope.io import LoadedModel, Preprocessing
from layerscope.probing import chance_level, cross_validate, interval, selectivity


def _passthrough_and_zero(channels: int = 1) -> nn.Sequential:
    """Layer "0" copies its input (1x1 conv, weight 1); layer "1" outputs zeros whatever the input."""
    copy, zero = nn.Conv2d(channels, 1, 1), nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        copy.weight.fill_(1.0 / channels)
        copy.bias.zero_()
        zero.weight.zero_()
        zero.bias.zero_()
    return nn.Sequential(copy, zero)


def _two_classes(n: int = 20) -> tuple[torch.Tensor, list[int]]:
    """Constant images: class 1 at +1 (plus small noise), class 0 at -1: the mean pixel says the class."""
    y = [0, 1] * n
    x = torch.tensor([1.0 if c else -1.0 for c in y]).view(-1, 1, 1, 1).repeat(1, 1, 4, 4)
    return x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), y


def test_a_layer_that_carries_the_class_is_read_perfectly_and_a_constant_one_at_chance():
    x, y = _two_classes()
    found = ls.probe(_passthrough_and_zero(), x, labels=y, layers=["0", "1"], folds=5)
    assert found.accuracy == {"0": 1.0, "1": 0.5}
    assert found.chance == 0.5 and found.classes == ["0", "1"] and found.counts == [20, 20]
    assert found["0"].interval == (1.0, 1.0) and found["1"].interval == (0.5, 0.5)
    assert [r.layer for r in found.layers] == ["0", "1"]  # depth order


def test_constant_features_score_the_chance_level_of_balanced_classes():
    y = np.repeat(np.arange(4), 10)
    scores = cross_validate(np.zeros((40, 3)), y, folds=5, seed=1)
    assert scores.tolist() == [0.25] * 5 and chance_level(y) == 0.25


def test_selectivity_of_a_hand_set_channel():
    """Class 0 pooled values 1 and 3 (mean 2, var 1), class 1 values -1 and 1 (mean 0, var 1): d' = 2 / 1."""
    x = torch.tensor([1.0, 3.0, -1.0, 1.0]).view(4, 1, 1, 1).repeat(1, 1, 3, 3)
    found = ls.probe(_passthrough_and_zero(), x, labels=[0, 0, 1, 1], layers=["0"], folds=2)
    assert found["0"].selectivity.tolist() == [[2.0, -2.0]]
    assert found["0"].top_classes(found.classes) == [("0", 2.0)]
    oracle = (np.mean([1, 3]) - np.mean([-1, 1])) / np.sqrt((np.var([1, 3]) + np.var([-1, 1])) / 2)
    assert selectivity(np.array([[1.0], [3.0], [-1.0], [1.0]]), np.array([0, 0, 1, 1]), 2)[0, 0] == oracle


def test_interval_is_the_t_interval_of_the_folds():
    scores = np.array([0.7, 0.8, 0.9, 0.8, 0.8])
    mean, low, high = interval(scores)
    half = 2.7764451051977987 * scores.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert mean == pytest.approx(0.8) and low == pytest.approx(0.8 - half) and high == pytest.approx(0.8 + half)


def _write_tree(root, n: int = 6) -> None:
    """An ImageFolder tree: cat/ holds bright images, dog/ dark ones."""
    rng = np.random.default_rng(0)
    for name, level in (("cat", 200), ("dog", 40)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(level + rng.integers(-10, 10, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def _rgb_model() -> LoadedModel:
    return LoadedModel(_passthrough_and_zero(3), "test:mean-pixel", Preprocessing(resize=8, crop=(8, 8),
                                                                                  mean=(0.5,) * 3, std=(0.5,) * 3))


def test_labels_from_an_imagefolder_tree_are_its_folder_names(tmp_path):
    _write_tree(tmp_path / "data")
    found = ls.probe(_rgb_model(), str(tmp_path / "data"), layers=["0"], folds=3)
    assert found.classes == ["cat", "dog"] and found.counts == [6, 6] and found.accuracy == {"0": 1.0}
    assert found["0"].top_classes(found.classes)[0][0] == "cat"  # the bright class
    assert found["0"].selectivity[0, 0] > 5 and found["0"].selectivity[0, 1] == -found["0"].selectivity[0, 0]


class _Pairs(Dataset):
    def __init__(self) -> None:
        self.x, self.y = _two_classes(6)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def test_labels_from_a_dataset_of_pairs_and_from_a_list_agree():
    from_dataset = ls.probe(_passthrough_and_zero(), _Pairs(), layers=["0"], folds=3)
    x, y = _two_classes(6)
    from_list = ls.probe(_passthrough_and_zero(), x, labels=[("b", "a")[c] for c in y], layers=["0"], folds=3)
    assert from_dataset.accuracy == from_list.accuracy == {"0": 1.0}
    assert from_list.classes == ["a", "b"]  # names sorted: label 1 -> "a"
    np.testing.assert_array_equal(from_dataset["0"].selectivity, -from_list["0"].selectivity)


def test_bad_labels_are_refused_with_the_fix():
    x, y = _two_classes(4)
    with pytest.raises(ls.InputError, match="7 labels were given for 8 inputs"):
        ls.probe(_passthrough_and_zero(), x, labels=y[:7], layers=["0"])
    with pytest.raises(ls.InputError, match="carries no labels: pass labels="):
        ls.probe(_passthrough_and_zero(), x, layers=["0"])
    with pytest.raises(ls.InputError, match="fewer than folds=5"):
        ls.probe(_passthrough_and_zero(), x, labels=y, layers=["0"], folds=5)
    with pytest.raises(ls.InputError, match="pool='median' is not a pooling"):
        ls.probe(_passthrough_and_zero(), x, labels=y, layers=["0"], pool="median")


def test_the_result_saves_its_table_picture_and_selectivity(tmp_path):
    x, y = _two_classes(5)
    found = ls.probe(_passthrough_and_zero(), x, labels=y, layers=["0", "1"], folds=5, out=tmp_path / "p")
    index = json.loads((tmp_path / "p" / "probe.json").read_text())
    assert index["files"] == ["probe.csv", "probe.png", "selectivity.npz"] and index["chance"] == 0.5
    assert [row["accuracy"] for row in index["layers"]] == [1.0, 0.5] and "t-interval" in index["interval"]
    assert (tmp_path / "p" / "probe.csv").read_text().splitlines()[1].startswith("0,1,1.000000,1.000000,1.000000")
    with Image.open(tmp_path / "p" / "probe.png") as picture:
        assert picture.format == "PNG" and picture.width > 300
    with np.load(tmp_path / "p" / "selectivity.npz") as saved:
        np.testing.assert_array_equal(saved["0"], found["0"].selectivity)
    assert "chance" in found.summary() and "0.500" in found.table()
