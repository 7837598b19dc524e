"""``layerscope samples OUT``: real files, safe to run again, never over other content."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from layerscope.cli import main
from layerscope.zoo import sample_inputs


def test_writes_held_out_digits_that_are_the_models_exact_input(tmp_path, capsys):
    assert main(["samples", str(tmp_path / "s"), "--count", "3", "--photos", ""]) == 0
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["digit_00_label0.png", "digit_01_label1.png", "digit_02_label2.png"]
    images, _ = sample_inputs("digits")
    with Image.open(tmp_path / "s" / "digit_01_label1.png") as image:
        assert image.mode == "L" and image.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(image), images[1])
    assert capsys.readouterr().out.startswith(f"3 sample inputs in {tmp_path / 's'}: digit_00_label0.png")


def test_writes_the_photos_by_name(tmp_path):
    pytest.importorskip("skimage", reason="the photos need scikit-image (layerscope[samples])")
    assert main(["samples", str(tmp_path), "--count", "0", "--photos", "coffee,chelsea"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chelsea.jpg", "coffee.jpg"]
    with Image.open(tmp_path / "coffee.jpg") as image:
        assert image.format == "JPEG" and image.mode == "RGB" and image.size == (600, 400)


def test_running_again_is_safe_and_other_content_needs_overwrite(tmp_path, capsys):
    args = ["samples", str(tmp_path), "--count", "2", "--photos", ""]
    assert main(args) == 0
    assert main(args) == 0  # the same bytes: left as they are
    (tmp_path / "digit_01_label1.png").write_bytes(b"my own file")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "digit_01_label1.png" in err and "--overwrite" in err
    assert (tmp_path / "digit_01_label1.png").read_bytes() == b"my own file"
    assert main([*args, "--overwrite"]) == 0
    assert (tmp_path / "digit_01_label1.png").read_bytes() != b"my own file"


@pytest.mark.parametrize(("extra", "message"), [(["--count", "31"], "count=31 is out of range"),
                                                (["--photos", "chelsee"], "chelsee")])
def test_bad_arguments_exit_2_with_the_reason(tmp_path, capsys, extra, message):
    assert main(["samples", str(tmp_path / "s"), *extra]) == 2
    assert message in capsys.readouterr().err
