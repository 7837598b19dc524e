"""``layerscope report`` and ``layerscope serve`` through the real CLI entry point."""

from __future__ import annotations

import pytest

from layerscope.cli import main
from layerscope.zoo import write_sample_images


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return [str(p) for p in write_sample_images(tmp_path_factory.mktemp("digits"), count=3, photos=(), overwrite=True)]


def test_writes_the_report_and_says_what_is_in_it(digits, tmp_path, capsys):
    out = tmp_path / "digits.html"
    assert main(["report", "builtin:digits", *digits, "-o", str(out), "--max-channels", "8", "--cmap", "magma"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "2 layers x 3 inputs, diagnosis: good" in printed
    page = out.read_text()
    assert page.count('class="ls-grid"') == 6 and '"cmap": "magma"' in page
    assert main(["report", "builtin:digits", *digits, "-o", str(out), "--views", "grid"]) == 0  # its own: replaced


@pytest.mark.parametrize("args, message", [
    (["--views", "grids"], "Unknown report view 'grids'"),
    (["--view", "grids"], "Unknown report view 'grids'"),  # show's and serve's spelling reaches the same option
    (["--normalize", "robus"], "invalid choice: 'robus'"),
    (["-o", "x.txt"], "name it with .html"),
])
def test_bad_requests_exit_2_with_the_reason(digits, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "builtin:digits", digits[0], "-o", "r.html", *args]) == 2
    assert message in capsys.readouterr().err


def test_someone_elses_file_is_not_replaced(digits, tmp_path, capsys):
    mine = tmp_path / "mine.html"
    mine.write_text("<p>notes</p>")
    assert main(["report", "builtin:digits", digits[0], "-o", str(mine)]) == 2
    assert "which layerscope did not write there" in capsys.readouterr().err
    assert mine.read_text() == "<p>notes</p>"


def test_stats_put_each_channels_dataset_examples_in_the_page(digits, tmp_path, capsys):
    from ..report.helpers import page_data

    scan = tmp_path / "scan"
    assert main(["scan", "builtin:digits", *digits, "--out", str(scan), "--top-k", "2", "--no-progress"]) == 0
    out = tmp_path / "with-stats.html"
    assert main(["report", "builtin:digits", digits[0], "-o", str(out), "--max-channels", "4",
                 "--stats", str(scan), "--examples", "2"]) == 0
    data = page_data(out.read_text())
    examples, pictures = data["examples"], data["pictures"]
    assert sorted(examples) == ["conv1", "conv2"] and sorted(examples["conv2"], key=int) == ["0", "1", "2", "3"]
    assert len(set(pictures)) == len(pictures), "each picture once"
    assert all(len(shown) == 2 and pictures[shown[0]["picture"]].startswith("data:image/png;base64,")
               and "MISMATCH" not in shown[0]["caption"] for shown in examples["conv2"].values())


def test_stats_of_another_model_are_refused(digits, tmp_path, capsys):
    scan = tmp_path / "scan"
    assert main(["scan", "builtin:digits:untrained", *digits, "--out", str(scan), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["report", "builtin:digits", digits[0], "-o", str(tmp_path / "r.html"), "--stats", str(scan)]) == 2
    assert "weights differ from the scanned model" in capsys.readouterr().err


def test_stats_embed_only_the_examples_of_the_layers_shown(digits, tmp_path):
    """A report of one layer once carried the dataset examples of every scanned layer (564 MB at 49 layers)."""
    from ..report.helpers import page_data

    scan = tmp_path / "scan"
    assert main(["scan", "builtin:digits", *digits, "--out", str(scan), "--top-k", "2", "--no-progress"]) == 0
    one, both = tmp_path / "one.html", tmp_path / "both.html"
    assert main(["report", "builtin:digits", digits[0], "-o", str(one), "--layers", "conv2", "--stats", str(scan)]) == 0
    assert main(["report", "builtin:digits", digits[0], "-o", str(both), "--stats", str(scan)]) == 0
    assert sorted(page_data(one.read_text())["examples"]) == ["conv2"]
    assert sorted(page_data(both.read_text())["examples"]) == ["conv1", "conv2"]
    assert one.stat().st_size < both.stat().st_size
