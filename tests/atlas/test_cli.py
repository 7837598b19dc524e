"""``layerscope atlas``: a PNG, an HTML page and a folder from images; exit 2 with the fix on a bad layer."""

from __future__ import annotations

import pytest

from layerscope.cli import main
from layerscope.render.png import PNG_SIGNATURE
from layerscope.reporting.api import is_report
from layerscope.zoo import write_sample_images


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    write_sample_images(folder, count=20, photos=(), overwrite=True)
    return folder


@pytest.mark.slow
def test_the_command_writes_a_png_and_a_page(digits, tmp_path, capsys):
    png, page = tmp_path / "atlas.png", tmp_path / "atlas.html"
    assert main(["atlas", "builtin:digits", str(digits), "--layer", "fc1", "--grid", "6", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert main(["atlas", "builtin:digits", str(digits), "--layer", "conv2", "--grid", "6", "--out", str(page)]) == 0
    assert is_report(page) and "ls-atlas-data" in page.read_text(encoding="utf-8")
    assert "20 points" in capsys.readouterr().out


def test_a_bad_layer_exits_2_naming_the_fix(digits, tmp_path, capsys):
    assert main(["atlas", "builtin:digits", str(digits), "--layer", "nope", "--out", str(tmp_path / "a.png")]) == 2
    assert "layerscope layers" in capsys.readouterr().err


@pytest.mark.slow
def test_the_command_reads_an_activation_store(digits, tmp_path):
    import layerscope as ls

    ls.dump("builtin:digits", str(digits), layers=["fc1"], out=tmp_path / "store", progress=False)
    png = tmp_path / "atlas.png"
    assert main(["atlas", str(tmp_path / "store"), "--layer", "fc1", "--grid", "5", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_a_model_without_images_or_store_exits_2(tmp_path, capsys):
    assert main(["atlas", "builtin:digits", "--layer", "fc1", "--out", str(tmp_path / "a.png")]) == 2
    assert "layerscope dump" in capsys.readouterr().err
