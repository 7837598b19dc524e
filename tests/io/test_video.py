"""Video frames through PyAV: sampling times, limits, and clear errors for what is not a video."""

from __future__ import annotations

import numpy as np
import pytest

from layerscope.errors import ImageError, InputError
from layerscope.io.video import is_video_path, read_video, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Two seconds at 5 fps; frame k is a flat grey of 20 * k (so each sampled frame says which it is)."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    return write_video(path, [np.full((24, 32, 3), 20 * k, np.uint8) for k in range(10)], fps=5)


def grey(frame) -> int:
    return int(round(np.asarray(frame.image).mean() / 20))


@pytest.mark.parametrize("fps, times", [(1.0, [0.0, 1.0]), (2.5, [0.0, 0.4, 0.8, 1.2, 1.6]), (None, [k / 5 for k in range(10)])])
def test_frames_are_sampled_at_the_asked_rate(clip, fps, times):
    video = read_video(clip, fps=fps)
    assert [f.time for f in video.frames] == pytest.approx(times)
    assert [grey(f) for f in video.frames] == [round(t * 5) for t in times]  # the right frames, decoded
    assert video.size == (32, 24) and video.source_fps == 5.0 and video.frames[0].image.mode == "RGB"


def test_bytes_in_memory_and_frame_limits(clip):
    video = read_video(clip.read_bytes(), fps=None, max_frames=3, name="upload.mp4")
    assert len(video.frames) == 3 and "kept the first 3 sampled frames" in video.notes[0] and video.source == "upload.mp4"
    assert video.frames[2].name == "frame-00002-0000400ms"
    with pytest.raises(ImageError, match=r"upload.mp4: frames of 32x24 are over the limit of 100 pixels"):
        read_video(clip.read_bytes(), max_pixels=100, name="upload.mp4")


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no such video file"),
    (lambda p: (p.write_bytes(b"just some text, not a video"), p)[1], "not a readable video"),
])
def test_what_is_not_a_video_is_an_image_error(tmp_path, make, message):
    with pytest.raises(ImageError, match=message):
        read_video(make(tmp_path / "x.mp4"))


def test_bad_rates_are_refused(clip):
    with pytest.raises(InputError, match="fps must be a positive number"):
        read_video(clip, fps=0)
    with pytest.raises(InputError, match="max_frames must be a positive int"):
        read_video(clip, max_frames=0)


def test_video_paths_are_told_by_extension():
    assert is_video_path("a/b.MP4") and is_video_path("c.webm") and not is_video_path("d.png") and not is_video_path(3)
