"""``show_video``: per-frame grids, a filmstrip and an animation of one layer; the CLI takes videos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch.nn as nn
from PIL import Image

from layerscope.cli import main
from layerscope.errors import InputError
from layerscope.io.video import write_video
from layerscope.showing.video import animation_bytes, show_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames = []
    for k in range(8):  # a bright square moving right
        frame = np.zeros((32, 48, 3), np.uint8)
        frame[8:20, 4 * k : 4 * k + 12] = 240
        frames.append(frame)
    return write_video(tmp_path_factory.mktemp("clip") / "square.mp4", frames, fps=4)


@pytest.fixture(scope="module")
def model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))


def test_writes_frames_filmstrip_animation_and_times(clip, model, tmp_path):
    result = show_video(model, clip, out=tmp_path / "maps", fps=2, animate="2")
    out = tmp_path / "maps"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "frame-00000-0000000ms", "frame-00002-0000500ms", "frame-00004-0001000ms", "frame-00006-0001500ms"]
    assert sorted(p.name for p in (out / "frame-00002-0000500ms").iterdir()) == ["00_1.png", "01_2.png"]
    info = json.loads(result.info.read_text())
    assert [f["time"] for f in info["frames"]] == [0.0, 0.5, 1.0, 1.5] and info["layer"] == "2"
    with Image.open(result.animation) as moving:
        assert moving.format == "WEBP" and moving.n_frames == 4
    strip = np.asarray(Image.open(result.filmstrip))
    assert strip.shape[0] > 2 * 160 and strip.shape[1] > 4 * 160


def test_a_rerun_replaces_its_own_files_and_never_a_users(clip, model, tmp_path):
    """The one rule of output folders: the filmstrip and animation are the run's own, listed in video.json."""
    before = show_video(model, clip, out=tmp_path / "maps", fps=1).filmstrip.read_bytes()
    again = show_video(model, clip, out=tmp_path / "maps", fps=1, cmap="gray")  # refused before: files existed
    assert again.filmstrip.read_bytes() != before  # redrawn in gray
    assert json.loads(again.info.read_text())["files"] == ["filmstrip.png", "animation.webp"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "filmstrip.png").write_bytes(b"a user's picture")
    with pytest.raises(InputError, match=r"already holds filmstrip\.png, which layerscope did not write"):
        show_video(model, clip, out=tmp_path / "mine", fps=1)
    assert (tmp_path / "mine" / "filmstrip.png").read_bytes() == b"a user's picture"


def test_gif_and_errors(clip, model, tmp_path):
    result = show_video(model, clip, out=tmp_path / "gif", fps=1, animation="gif")
    with Image.open(result.animation) as moving:
        assert moving.format == "GIF" and moving.n_frames == 2
    with pytest.raises(InputError, match="--animate '3' is not a layer that was drawn. Drawn: 1, 2"):
        show_video(model, clip, out=tmp_path / "bad", animate="3")
    with pytest.raises(InputError, match="Unknown animation format 'png'"):
        animation_bytes([np.zeros((2, 2, 3), np.uint8)], 1.0, "png")


def test_cli_show_takes_a_video(clip, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["show", "builtin:digits", str(clip), "--fps", "2", "--out", str(out), "--animation", "gif"]) == 0
    printed = capsys.readouterr().out
    assert "4 frames at 2 fps" in printed and (out / "animation.gif").exists() and (out / "filmstrip.png").exists()
    assert main(["show", "builtin:digits", str(clip), str(out / "filmstrip.png"), "--out", str(tmp_path / "x")]) == 2
    assert "either videos or images" in capsys.readouterr().err
