"""The comparison result: JSON, text, HTML, the heat map, matched grids on one scale, and its folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import layerscope as ls
from layerscope.errors import InputError, LayerNotFoundError


@pytest.fixture(scope="module")
def result():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3))
    b = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3))
    b[0].load_state_dict(a[0].state_dict())  # layer 0 identical, layer 2 not
    x = torch.randn(8, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    return ls.compare(a, b, x, labels=("epoch 1", "epoch<9>"))


def test_to_dict_is_plain_json_with_the_figures_per_pair(result):
    data = json.loads(result.to_json())
    assert [p["layer_a"] for p in data["pairs"]] == ["1", "2"] and data["inputs"] == 8
    assert set(data["pairs"][0]) >= {"cka", "cosine", "rel_l2", "match"}
    assert data["pairs"][0]["cka"] == 1.0 and data["pairs"][0]["match"]["moved"] == 0
    assert data["ranking"] == ["2", "1"] and data["estimator"] == "debiased HSIC"
    assert np.array(data["heatmap"]["cka"]).shape == (2, 2) and data["labels"] == ["epoch 1", "epoch<9>"]


def test_pairs_by_name_and_ranking(result):
    assert result["2"].layer_b == "2" and result.ranking()[0].layer_a == "2"
    with pytest.raises(LayerNotFoundError, match="'3'"):
        result["3"]


def test_summary_names_both_sides_and_what_changed_most(result):
    text = result.summary()
    assert "epoch 1:" in text and "epoch<9>:" in text and "changed most: 2, 1" in text
    assert repr(result) == text


def test_html_escapes_names_and_embeds_the_heat_map(result):
    page = result._repr_html_()
    assert "epoch&lt;9&gt;" in page and "epoch<9>" not in page and "data:image/png;base64," in page


def test_heat_map_figure_and_image(result):
    fig = result.heatmap_figure()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2"]
    view = result.heatmap()
    assert view.array.dtype == np.uint8 and view.array.ndim == 3 and view.array.shape[2] == 3
    assert result.heatmap_png()[:4] == b"\x89PNG"


def test_matched_grids_put_both_sides_on_one_scale(result):
    match = result["2"].match
    view = match.grids(scale=1)
    half = (view.array.shape[1] - 8) // 2
    low = min(match.probe_a.min().item(), match.probe_b.min().item())
    high = max(match.probe_a.max().item(), match.probe_b.max().item())
    assert view.title.endswith(f"one scale [{low:.3g}, {high:.3g}]")
    doubled = type(match)(match.layer_a, match.layer_b, match.a, match.b, match.correlation, match.matrix,
                          probe_a=match.probe_a, probe_b=match.probe_a * 2 + 10)  # B brighter everywhere
    image = doubled.grids(scale=1, cmap="gray").array
    left, right = image[:, :half].astype(int), image[:, half + 8:].astype(int)
    assert right.mean() > left.mean()


def test_save_writes_the_index_the_heat_map_and_matched_grids_and_replaces_only_its_own(result, tmp_path):
    # the one rule of output folders (core.outputs.OutputFolder): a rerun replaces its own files
    out = result.save(tmp_path / "cmp")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["heatmap.png", "matched/00_1.png",
                                                                                 "matched/01_2.png"]
    index = json.loads((out / "compare.json").read_text())
    assert index["inputs"] == 8 and index["files"] == ["heatmap.png", "matched/00_1.png", "matched/01_2.png"]
    with Image.open(out / "heatmap.png") as image:
        assert image.size[0] > 100
    assert result.save(out) == out  # saving again replaces its own files
    (out / "mine.txt").write_text("keep")
    result.save(out, overwrite=True)
    assert (out / "mine.txt").read_text() == "keep"  # overwrite clears only what an earlier save listed
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "heatmap.png").write_bytes(b"x")
    with pytest.raises(InputError, match="heatmap.png, which layerscope did not write there"):
        result.save(foreign)
    assert (foreign / "heatmap.png").read_bytes() == b"x" and not (foreign / "compare.json").exists()
    result.save(foreign, overwrite=True)
    assert (foreign / "heatmap.png").read_bytes() != b"x"
