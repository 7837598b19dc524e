"""``layerscope scan`` / ``merge`` / ``diagnose --stats`` through the real CLI entry point: files, exit codes,
messages, model and preprocessing flags, no progress bar when stderr is not a terminal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import layerscope as ls
from layerscope.cli import main


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from layerscope.zoo import write_sample_images

    folder = tmp_path_factory.mktemp("cli") / "digits"
    write_sample_images(folder, photos=())
    return folder


def test_scan_writes_a_result_and_prints_what_it_scanned(digits, tmp_path, capsys):
    assert main(["scan", "builtin:digits", str(digits), "--out", str(tmp_path / "s"), "--top-k", "3"]) == 0
    out, err = capsys.readouterr()
    assert "scan of builtin:digits: 10 inputs of folder" in out and "(whole data), top-3 per channel" in out
    assert "conv1     16 ch  map 24x24" in out and "receptive 5x5 (geometry)" in out
    assert f"result: {tmp_path / 's' / 'stats.safetensors'}" in out
    assert "preprocessing: resize shorter side to 28" in err and "it/s" not in err and "img/s" not in err  # no tqdm
    assert ls.load_stats(tmp_path / "s")["conv2"].top.index.shape == (32, 3)
    assert main(["scan", "builtin:digits", str(digits), "--out", str(tmp_path / "s"), "--top-k", "3",
                 "--no-progress"]) == 0
    assert "is already complete" in capsys.readouterr().err


def test_model_and_preprocessing_flags_reach_the_scan(digits, tmp_path, capsys):
    assert main(["scan", "torchvision:resnet18", str(digits), "--size", "40", "--mean", "0.5", "--std", "0.25",
                 "--layers", "layer1.0.conv1", "--out", str(tmp_path / "s"), "--batch-size", "4"]) == 0
    stats = ls.load_stats(tmp_path / "s")
    assert stats.meta["preprocessing"]["crop"] == [40, 40] and stats.meta["preprocessing"]["mean"] == [0.5] * 3
    assert stats.layers == ["layer1.0.conv1"] and stats["layer1.0.conv1"].map_size == (10, 10)


def test_shards_then_merge_from_the_shell(digits, tmp_path, capsys):
    for shard in ("0/2", "1/2"):
        assert main(["scan", "builtin:digits", str(digits), "--out", str(tmp_path / shard[0]), "--shard", shard]) == 0
    assert main(["merge", str(tmp_path / "0"), str(tmp_path / "1"), "--out", str(tmp_path / "all")]) == 0
    assert "10 inputs" in capsys.readouterr().out and ls.load_stats(tmp_path / "all").whole
    assert main(["merge", str(tmp_path / "0"), str(tmp_path / "0"), "--out", str(tmp_path / "bad")]) == 2
    assert "their shards overlap" in capsys.readouterr().err


def test_bad_inputs_exit_2_with_the_fix(digits, tmp_path, capsys):
    bad = tmp_path / "data"
    bad.mkdir()
    for path in sorted(digits.iterdir())[:3]:
        (bad / path.name).write_bytes(path.read_bytes())
    (bad / "zz_broken.png").write_bytes(b"broken")
    assert main(["scan", "builtin:digits", str(bad), "--out", str(tmp_path / "s"), "--strict"]) == 2
    assert "zz_broken.png: not a readable image" in capsys.readouterr().err
    assert main(["scan", "builtin:digits", str(bad), "--out", str(tmp_path / "s2")]) == 0
    captured = capsys.readouterr()
    assert "skipped " in captured.err and "zz_broken.png" in captured.err and "1 input skipped" in captured.out
    assert main(["scan", "builtin:digits", str(bad), "--out", str(tmp_path / "s3"), "--shard", "1-2"]) == 2
    assert "--shard '1-2' is not i/N" in capsys.readouterr().err


def test_diagnose_reports_dataset_level_dead_channels_from_a_scan(digits, tmp_path, capsys):
    main(["scan", "builtin:digits:untrained", str(digits), "--out", str(tmp_path / "s")])
    capsys.readouterr()
    assert main(["diagnose", "--stats", str(tmp_path / "s")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("dataset scan: 10 inputs (the whole data)") and "conv2" in text
    assert main(["diagnose", "--stats", str(tmp_path / "s"), "--json", "--rare", "0.5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"] == 10 and data["rare"] == 0.5 and [layer["layer"] for layer in data["layers"]] == ["conv1", "conv2"]
    assert main(["diagnose", "builtin:digits:untrained", str(digits), "--stats", str(tmp_path / "s"), "--json",
                 "--no-channel-order"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert both["dataset"]["inputs"] == 10 and "layers" in both


def test_diagnose_without_model_images_or_stats_is_a_usage_error(capsys):
    assert main(["diagnose"]) == 2
    assert "diagnose needs MODEL and IMAGES (or --stats DIR" in capsys.readouterr().err
    assert main(["diagnose", "builtin:digits"]) == 2
    assert "MODEL and IMAGES" in capsys.readouterr().err


def test_images_of_several_sizes_are_cropped_alike(tmp_path):
    for i, size in enumerate([(30, 40), (50, 28)]):
        Image.fromarray(np.full(size, 200, np.uint8)).save(tmp_path / f"{i}.png")
    assert main(["scan", "builtin:digits", str(tmp_path), "--out", str(tmp_path / "s")]) == 0
    assert ls.load_stats(tmp_path / "s").meta["input_shape"] == [1, 28, 28]
