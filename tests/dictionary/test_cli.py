"""``--dictionary FILE`` on scan, show, diagnose and report: the layer's latents read as its channels."""

from __future__ import annotations

import json

import pytest
import torch

import layerscope as ls
from layerscope.cli import main
from layerscope.dictionary import Dictionary, train_dictionary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from layerscope.zoo import write_sample_images

    root = tmp_path_factory.mktemp("dict-cli")
    write_sample_images(root / "digits", photos=())
    acts = ls.capture("builtin:digits", sorted((root / "digits").glob("*.png")), ["conv2"])["conv2"]
    rows = [acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])]
    d = train_dictionary(rows, latents=40, k=4, epochs=2, batch_size=64, seed=0, layer="conv2")
    return root, d.save(root / "conv2.safetensors")


def test_scan_with_a_dictionary(files, capsys):
    root, path = files
    assert main(["scan", "builtin:digits", str(root / "digits"), "--out", str(root / "scan"), "--dictionary",
                 str(path), "--top-k", "2", "--no-progress"]) == 0
    stats = ls.load_stats(root / "scan")
    assert stats.layers == ["conv2"] and stats["conv2"].channels == 40
    assert stats["conv2"].meta["transform"]["fingerprint"] == Dictionary.load(path).fingerprint()
    crop = stats.crop("conv2", int(stats["conv2"].max.argmax()), model=Dictionary.load(path).on("builtin:digits"))
    assert crop.matches


def test_show_and_diagnose_with_a_dictionary(files):
    root, path = files
    image = str(sorted((root / "digits").glob("*.png"))[0])
    assert main(["show", "builtin:digits", image, "--dictionary", str(path), "--out", str(root / "shown")]) == 0
    index = json.loads((root / "shown" / "index.json").read_text())
    assert "latent" in json.dumps(index) and "40" in json.dumps(index)
    assert main(["diagnose", "builtin:digits", str(root / "digits"), "--dictionary", str(path)]) in (0, 1)


def test_a_file_that_is_no_dictionary(files, capsys):
    root, _ = files
    torch.save({"a": 1}, root / "bad.safetensors")
    assert main(["scan", "builtin:digits", str(root / "digits"), "--out", str(root / "bad"), "--dictionary",
                 str(root / "bad.safetensors")]) == 2
    assert "not a layerscope dictionary" in capsys.readouterr().err
