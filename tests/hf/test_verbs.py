"""show, diagnose, report, scan and compare (and the CLI's show) run on every tiny Hugging Face family loaded by
``hf:FOLDER``; predictions appear for classifiers only (not for an embedding, a segmentation or a detection)."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest

import layerscope as ls
from layerscope.cli import main

from .tiny import FAMILIES, LABELS, folders

CLASSIFIERS = {"vit", "deit", "dinov2", "dinov2_registers", "swin", "convnext"}
SLOW = {("diagnose", "detr"), ("compare", "detr"), ("scan", "detr"), ("scan", "segformer")}  # 3-6 s on 2 busy cores


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
