"""The explorer's memory is a byte budget: pictures kept at the size the model reads, analyses counted by their
tensors, the oldest dropped beyond the budget; large uploads over real HTTP, a large video, a decompression bomb."""

from __future__ import annotations

import io
import json
import re
import struct
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import layerscope as ls
from layerscope.io.video import write_video
from layerscope.serve import Explorer, Limits, TooLargeError
from layerscope.zoo import sample_photo

from .conftest import Running

PRE = ls.Preprocessing(256, (224, 224))  # resize the shorter side to 256, crop 224: ImageNet's
HELD = 384 * 256 * 3  # a 3:2 picture as the model reads it, before the crop


def conv_model() -> ls.LoadedModel:
    torch.manual_seed(0)
    return ls.LoadedModel(nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU()), "tests:conv", PRE)


def photo_jpeg(width: int, height: int, shift: int) -> bytes:
    """A real photo (scikit-image's cat) enlarged to ``width`` x ``height``, panned by ``shift`` pixels."""
    picture = np.roll(np.asarray(sample_photo("chelsea").convert("RGB").resize((width, height))), shift, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def request(url: str, data: bytes = None, **headers: str) -> tuple[int, dict]:
    method = "POST" if data is not None else "GET"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers),
                                    timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.fixture(scope="module")
def photos():
    return [photo_jpeg(4500, 3000, 300 * k) for k in range(5)]  # 13.5 megapixels each, 40 MB decoded


def test_large_uploads_stay_under_the_budget_and_the_oldest_are_dropped(photos):
    budget = 3 * HELD + HELD // 2  # room for three pictures as the model reads them, not four
    explorer = Explorer(conv_model(), samples=False, limits=Limits(max_memory=budget))
    server = Running(explorer)
    try:
        ids = []
        for k, data in enumerate(photos):
            status, body = request(server.url + "api/upload", data, **{"Content-Type": "image/jpeg",
                                                                        "X-Filename": f"photo{k}.jpg"})
            assert status == 200
            ids.append(body["items"][0]["id"])
            assert explorer.held_bytes() <= budget
        assert explorer.held_bytes() == 3 * HELD and list(explorer.items) == ids[2:]  # the oldest two went
        for gone in ids[:2]:
            status, body = request(server.url + f"api/analyze?item={gone}&layer=0")
            assert status == 404 and "no longer in the explorer's memory" in body["error"]
        status, body = request(server.url + f"api/analyze?item={ids[-1]}&layer=0&channels=4")
        assert status == 200 and body["data"]["layers"][0]["name"] == "1"
        assert explorer.held_bytes() <= budget  # the analysis did not fit beside the inputs: answered, not kept
        status, body = request(server.url + "api/health")
        assert status == 200 and body["ok"]
    finally:
        server.stop()


def test_a_kept_picture_is_analysed_as_the_original_would_be(photos):
    """The kept copy is what the preprocessing reads of the upload: the model's input is the same, pixel for pixel,
    as the preprocessing of the full 4500x3000 original (the independent oracle)."""
    explorer = Explorer(conv_model(), samples=False)
    item = explorer.add_upload(photos[0], "photo.jpg", "image/jpeg")[0]
    assert item.image.size == (384, 256) and item.nbytes == HELD
    with Image.open(io.BytesIO(photos[0])) as original:
        expected = PRE(original.convert("RGB"))
    torch.testing.assert_close(explorer._analysis(item).tensor[0], expected, rtol=0, atol=0)


def test_analyses_count_and_go_before_the_inputs(photos):
    one = 3 * 224 * 224 * 4 + 4 * 56 * 56 * 4 + 4 * 56 * 56 * 4  # an analysis: the input, the layer, the output
    explorer = Explorer(conv_model(), samples=False, limits=Limits(max_memory=3 * HELD + 2 * one + one // 2))
    items = [explorer.add_upload(data, f"p{k}.jpg", "image/jpeg")[0] for k, data in enumerate(photos[:3])]
    analyses = [explorer._analysis(item) for item in items]
    assert [a.nbytes for a in analyses] == [one] * 3
    assert list(explorer.analyses) == [it.id for it in items[1:]]  # two analyses fit beside three inputs
    assert list(explorer.items) == [it.id for it in items] and explorer.held_bytes() == 3 * HELD + 2 * one


def test_an_upload_over_the_whole_budget_is_refused_with_the_fix(photos):
    explorer = Explorer(conv_model(), samples=False, limits=Limits(max_memory=HELD // 2))
    with pytest.raises(TooLargeError, match=r"takes 0.281 MB at the size the model reads, over the explorer.s memory of 0.141 MB; start it with a larger --memory-mb"):
        explorer.add_upload(photos[0], "photo.jpg", "image/jpeg")
    assert explorer.held_bytes() == 0


def test_a_big_video_is_kept_at_the_size_the_model_reads(tmp_path):
    ramp = np.linspace(0, 255, 2400, dtype=np.float32)
    frame = np.stack([np.add.outer(ramp[:1600], ramp) / 2] * 3, axis=-1).astype(np.uint8)  # 2400 x 1600
    clip = write_video(tmp_path / "big.mp4", [np.roll(frame, 100 * k, axis=1) for k in range(6)], fps=1)
    explorer = Explorer(conv_model(), samples=False, limits=Limits(video_fps=1.0))
    items = explorer.add_upload(clip.read_bytes(), "big.mp4", "video/mp4")
    assert len(items) == 6 and {it.image.size for it in items} == {(384, 256)}
    assert explorer.held_bytes() == 6 * HELD  # 1.8 MB, not the 69 MB of six frames at 2400 x 1600


@pytest.mark.parametrize("side, says", [
    (7_000, "7000x7000 = 49,000,000 pixels is over the limit of 40,000,000"),  # the explorer's --max-pixels
    (60_000, "refused as a possible decompression bomb. If you trust this file, raise the limit"),  # Pillow's own
])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(side, says):
    small = io.BytesIO()
    Image.new("L", (8, 8)).save(small, format="PNG")
    data = bytearray(small.getvalue())
    header = struct.pack(">II", side, side) + bytes(data[24:29])  # the IHDR now says side x side: 69 bytes of file
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    explorer = Explorer(conv_model(), samples=False)
    with pytest.raises(ls.errors.ImageError, match=re.escape(says)):
        explorer.add_upload(bytes(data), "bomb.png", "image/png")
    assert explorer.held_bytes() == 0


def test_a_picture_the_model_reads_whole_is_kept_at_most_1024_on_a_side_with_a_note(photos):
    whole = ls.Preprocessing(None, None)  # no resize, no crop: the model takes the picture at its size
    explorer = Explorer(ls.LoadedModel(nn.Sequential(nn.Conv2d(3, 2, 3, stride=8)), "tests:whole", whole),
                        samples=False)
    item = explorer.add_upload(photos[0], "photo.jpg", "image/jpeg")[0]
    assert item.image.size == (1024, 683) and item.nbytes == 1024 * 683 * 3
    assert "kept at 1024x683 (from 4500x3000)" in item.notes[-1]
