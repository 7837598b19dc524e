"""Issue 20's "done when", end to end: every tiny Hugging Face family loaded by ``hf:FOLDER`` renders its default
layers as the grids a manual reshape gives (prefix tokens apart, the grid of the input), and show, diagnose,
report, scan and compare (and the CLI's show and report) run on it; predictions appear for classifiers only (not
for an embedding, a segmentation or a detection). The values of each layout against a manual reshape:
tests/hf/test_tokens.py."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest

import layerscope as ls
from layerscope.cli import main

from .tiny import FAMILIES, IMAGE, LABELS, PATCH, PREFIX, folders

CLASSIFIERS = {"vit", "deit", "dinov2", "dinov2_registers", "swin", "convnext"}
SLOW = {("diagnose", "detr"), ("compare", "detr"), ("scan", "detr"), ("scan", "segformer"), ("cli report", "detr")}  # 3-6 s on 2 busy cores


def _families(verb: str):
    return [pytest.param(f, marks=pytest.mark.slow) if (verb, f) in SLOW else f for f in FAMILIES]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return folders(tmp_path_factory)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    """Five different smooth pictures (48x40 PNG files): CKA needs four inputs or more."""
    root = tmp_path_factory.mktemp("images")
    y, x = np.mgrid[0:48, 0:40] / 40.0
    paths = []
    for i in range(5):
        picture = np.stack([np.sin(x * (i + 1)), np.cos(y * (i + 2)), np.sin((x + y) * (3 - i % 3))], -1)
        path = root / f"picture{i}.png"
        PIL.Image.fromarray(((picture + 1) * 127.5).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _predicted(names: set[str], family: str) -> None:
    if family in CLASSIFIERS:
        assert names and names <= set(LABELS.values())
    else:
        assert not names  # an embedding, masks or boxes are no class scores


@pytest.mark.parametrize("family", _families("show"))
def test_show(family, folder, images, tmp_path):
    result = ls.show(f"hf:{folder(family)}", images[:2], out=tmp_path / "show")
    assert result.layers and not result.skipped_layers
    for layer in result.layers:
        assert (tmp_path / "show" / "picture0" / layer["file"]).is_file()
    _predicted({p["class"] for item in result.to_dict()["inputs"] for p in item.get("predictions", [])}, family)


def _expected(family: str, name: str, shape: list) -> tuple[int, tuple]:
    """(prefix tokens, map size) of a default layer's raw (L, D) or (C, H, W) ``shape``, worked out by hand from the
    tiny configs (tests/hf/tiny.py): a ViT's grid is the input over the patch size, Swin's the input over its
    patch size 2 then halved by the patch merging, SegFormer's over its strides 4 then 2, DETR's encoder the
    tiny ResNet's last map (stride 4 stem, then a stage of stride 2: 64 / 8); ConvNeXt's maps are its own."""
    stage = 1 if any(f"{part}.1." in name for part in ("layers", "stages")) else 0
    if family in PREFIX:
        return PREFIX[family], (IMAGE // PATCH, IMAGE // PATCH)
    if family == "swin":
        return 0, ((IMAGE // 2) >> stage,) * 2
    if family == "segformer":
        return 0, ((IMAGE // 4) >> stage,) * 2
    if family == "detr" and name == "model:encoder_last_hidden_state":
        return 0, (64 // 8, 64 // 8)
    if family == "detr" and name == "model:last_hidden_state":
        return 0, (1, 5)  # 5 object queries: each feature a strip over the queries, no grid
    return 0, tuple(shape[1:])  # native maps (ConvNeXt, DETR's backbone)


@pytest.mark.parametrize("family", _families("show"))
def test_show_default_layers_are_the_grids_of_a_manual_reshape(family, folder, images, tmp_path):
    result = ls.show(f"hf:{folder(family)}", images[:1], out=tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    grids = index["inputs"][0]["grids"]
    assert index["layers"] and not index["skipped_layers"]
    for row in index["layers"]:
        prefix, size = _expected(family, row["name"], row["shape"])
        meta = grids[row["name"]]
        if row["layout"] == "NLC":  # a strip per feature, stretched to a visible height: its length is the size
            assert meta["map_size"][1] == size[1] and meta["total_channels"] == row["shape"][1], row["name"]
        else:
            assert tuple(meta["map_size"]) == size, row["name"]
        if row["layout"] == "tokens":  # the sequence is the prefix tokens and the grid, nothing else
            assert row["shape"][0] == prefix + size[0] * size[1] and meta["total_channels"] == row["shape"][1]
        assert len(row.get("prefix", {}).get("names", [])) == prefix
    if family in PREFIX:  # the prefix strips beside the grids, as their own pictures
        assert all((tmp_path / "picture0" / row["prefix"]["file"]).is_file() for row in index["layers"])
    assert result.count == len(index["layers"])  # a grid per layer for the one input


@pytest.mark.parametrize("family", _families("diagnose"))
def test_diagnose(family, folder, images):
    result = ls.diagnose(f"hf:{folder(family)}", images)
    assert result.layers and result.verdict
    _predicted({name for _, top in result.predictions for name, _ in top}, family)


@pytest.mark.parametrize("family", _families("report"))
def test_report(family, folder, images, tmp_path):
    ls.report(f"hf:{folder(family)}", images[:2], out=tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert f"hf:{folder(family)}" in page and "preprocessor_config.json" in page
    if family in PREFIX:  # each block's prefix tokens drawn beside its grids (one strip per token, named)
        assert page.count('data-view="prefix"') == 2 * 2  # 2 blocks x 2 inputs
        assert ("prefix tokens, top to bottom: CLS" + (", distillation" if family == "deit" else "")) in page
    else:
        assert 'data-view="prefix"' not in page


@pytest.mark.parametrize("family", _families("scan"))
def test_scan(family, folder, images, tmp_path):
    result = ls.scan(f"hf:{folder(family)}", images, out=tmp_path / "scan")
    assert result.inputs == len(images) and result.complete and result.layers
    assert all(np.isfinite(result[name].mean).all() for name in result.layers)


@pytest.mark.parametrize("family", _families("compare"))
def test_compare_with_itself_gives_cka_one_on_the_diagonal(family, folder, images):
    spec = f"hf:{folder(family)}"
    result = ls.compare(spec, spec, images)
    diagonal = np.diag(np.asarray(result.matrix, dtype=float))
    assert len(diagonal) and np.allclose(diagonal[np.isfinite(diagonal)], 1.0, atol=1e-4)


@pytest.mark.parametrize("family", _families("cli"))
def test_cli_show(family, folder, images, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["show", f"hf:{folder(family)}", images[0], "--out", str(out)]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["model"]["spec"] == f"hf:{folder(family)}" and index["layers"]
    assert "preprocessor_config.json" in index["preprocessing"]["source"]


@pytest.mark.parametrize("family", _families("cli report"))
def test_cli_report(family, folder, images, tmp_path):
    page = tmp_path / "report.html"
    assert main(["report", f"hf:{folder(family)}", images[0], "--out", str(page)]) == 0
    assert f"hf:{folder(family)}" in page.read_text()


def test_explorer_draws_the_prefix_tokens_with_the_models_geometry(folder, images):
    from layerscope.serve import Explorer

    explorer = Explorer(f"hf:{folder('dinov2_registers')}", samples=False)
    item = explorer.add_array(np.asarray(PIL.Image.open(images[0]).convert("RGB")), "picture")
    answer = explorer.analyze(item.id, layer=0)
    assert 'data-view="prefix"' in answer["html"]
    assert "CLS, register 1, register 2, register 3, register 4" in answer["html"]
    assert "5 leading tokens" in answer["html"]  # the note of the model's geometry, not a guess
