"""``layerscope show`` through the real CLI entry point: exit codes, files, messages."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from layerscope.cli import main

MODEL = ["torchvision:resnet18", "--size", "48"]


@pytest.fixture()
def image(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)).save(path)
    return path


def test_writes_grids_and_prints_what_it_did(image, tmp_path, capsys):
    out = tmp_path / "maps"
    code = main(["show", *MODEL, str(image), "--layers", "conv1,layer2.0.conv1", "--out", str(out),
                 "--labels", "--colorbar", "--normalize", "robust", "--percentiles", "2,98"])
    printed = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in (out / "photo").iterdir()) == ["00_conv1.png", "01_layer2.0.conv1.png"]
    assert "preprocessing: resize" in printed and "wrote 2 PNG files (grid; 2 layers x 1 input)" in printed
    index = json.loads((out / "index.json").read_text())
    assert index["render"]["percentiles"] == [2.0, 98.0] and index["render"]["labels"] is True


def test_atlas_renders_every_channel(image, tmp_path):
    out = tmp_path / "atlas"
    assert main(["show", *MODEL, str(image), "--layers", "layer3.0.conv1", "--atlas", "--out", str(out)]) == 0
    grid = json.loads((out / "index.json").read_text())["inputs"][0]["grids"]["layer3.0.conv1"]
    assert grid["channels"] == list(range(256)) and grid["total_channels"] == 256


def test_unknown_layer_exits_2_with_a_suggestion(image, tmp_path, capsys):
    code = main(["show", *MODEL, str(image), "--layers", "layer1.0.conv11", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "No layer matches 'layer1.0.conv11'. Did you mean 'layer1.0.conv1'" in capsys.readouterr().err


def test_a_second_run_replaces_its_own_output_but_other_files_need_overwrite(image, tmp_path, capsys):
    args = ["show", *MODEL, str(image), "--layers", "conv1", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert main(args) == 0  # its own earlier output, listed in index.json
    (tmp_path / "o" / "photo" / "notes.txt").write_text("user data")
    assert main(args) == 2
    assert "photo/notes.txt, which layerscope did not write there" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--percentiles", "1"], "--percentiles '1' must be two comma-separated numbers"),
     (["--cmap", "virids"], "Did you mean 'viridis'"),
     (["--normalize", "global", "--range", "3,1"], "value_range must be finite")],
)
def test_bad_rendering_options_exit_2(image, tmp_path, capsys, extra, message):
    code = main(["show", *MODEL, str(image), "--layers", "conv1", "--out", str(tmp_path / "o"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_skipped_images_are_reported(image, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    assert main(["show", *MODEL, str(image), str(broken), "--layers", "conv1", "--out", str(tmp_path / "o")]) == 0
    assert "skipped" in capsys.readouterr().err


def test_range_without_global_is_refused(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (40, 40), "gray").save(tmp_path / "g.png")
    code = main(["show", "builtin:digits", str(tmp_path / "g.png"), "--range", "0,1", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "--normalize global" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_layout_override_must_name_a_layout(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (40, 40), "gray").save(tmp_path / "g.png")
    code = main(["show", "builtin:digits", str(tmp_path / "g.png"), "--layout", "conv1=XYZ", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "Unknown layout 'XYZ'" in capsys.readouterr().err


def test_flags_fill_the_render_options_over_shows_defaults(tmp_path):
    from layerscope.showing.api import DEFAULT_OPTIONS

    Image.new("RGB", (40, 40), "gray").save(tmp_path / "g.png")
    args = ["show", "builtin:digits", str(tmp_path / "g.png"), "--out", str(tmp_path / "o")]
    assert main([*args, "--columns", "2", "--no-caption", "--normalize", "signed"]) == 0
    render = json.loads((tmp_path / "o" / "index.json").read_text())["render"]
    assert render == DEFAULT_OPTIONS.replace(columns=2, caption=False, normalize="signed").to_dict()
    assert render["cmap"] == "RdBu_r" and render["max_channels"] == 64


def test_rank_importance_with_a_target_and_the_importance_view(image, tmp_path, capsys):
    out = tmp_path / "why"
    code = main(["show", *MODEL, str(image), "--layers", "layer2.0.conv1", "--rank", "importance", "--target", "9",
                 "--view", "grid,importance", "--max-channels", "6", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "importance for class 9" in printed
    assert sorted(p.name for p in (out / "photo").iterdir()) == ["00_layer2.0.conv1.importance.png",
                                                                  "00_layer2.0.conv1.png"]
    entry = json.loads((out / "index.json").read_text())["inputs"][0]
    assert entry["importance_target"] == 9 and len(entry["grids"]["layer2.0.conv1"]["channels"]) == 6


def test_rank_importance_with_an_unknown_class_name_exits_2(image, tmp_path, capsys):
    code = main(["show", *MODEL, str(image), "--rank", "importance", "--target", "tabby", "--out", str(tmp_path / "o")])
    assert code == 2 and "give a class index" in capsys.readouterr().err
