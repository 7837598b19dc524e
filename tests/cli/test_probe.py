"""``layerscope probe``: an ImageFolder tree of held-out digits in, the table out; bad input exits 2."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from layerscope.cli import main

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    from layerscope.zoo import digits

    _, _, images, labels, _ = digits.load_split()
    root = tmp_path_factory.mktemp("digits")
    for i, (image, label) in enumerate(zip(images[:120], labels[:120])):
        (root / f"d{label}").mkdir(exist_ok=True)
        Image.fromarray(image).save(root / f"d{label}" / f"{i}.png")
    return root


@pytest.mark.slow
def test_probe_writes_the_table_and_the_picture(tree, tmp_path, capsys):
    assert main(["probe", "builtin:digits", str(tree), "--layers", "conv2,fc3", "--folds", "3",
                 "--out", str(tmp_path / "p")]) == 0
    printed = capsys.readouterr().out
    assert "chance" in printed and "fc3" in printed
    index = json.loads((tmp_path / "p" / "probe.json").read_text())
    assert index["classes"] == [f"d{k}" for k in range(10)] and [r["layer"] for r in index["layers"]] == ["conv2", "fc3"]
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["probe.csv", "probe.json", "probe.png",
                                                                  "selectivity.npz"]


def test_bad_input_exits_2(tree, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("0\n1\n")
    assert main(["probe", "builtin:digits", str(tree), "--labels", str(labels), "--out", str(tmp_path / "a")]) == 2
    assert "2 labels were given for 120 inputs" in capsys.readouterr().err
    assert main(["probe", "builtin:digits", str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert main(["probe", "builtin:digits", str(tree), "--labels", str(tmp_path / "nope.txt"),
                 "--out", str(tmp_path / "c")]) == 2
    assert "Cannot read the labels file" in capsys.readouterr().err
