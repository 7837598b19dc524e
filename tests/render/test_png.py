"""The PNG writer: Pillow decodes every kind of image it writes to identical pixels; files are atomic."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from layerscope.errors import InputError
from layerscope.render import png
from layerscope.render.colormap import palette
from layerscope.render.png import encode_png, save_png


def _decode(path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


sizes = st.tuples(st.integers(1, 37), st.integers(1, 37))


@settings(max_examples=25, deadline=None)
@given(size=sizes, seed=st.integers(0, 2**16))
def test_palette_round_trip(tmp_path_factory, size, seed):
    indices = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
    path = save_png(indices, tmp_path_factory.mktemp("p") / "p.png", palette=palette("magma"))
    image = _decode(path)
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image), indices)
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), palette("magma")[indices])


@pytest.mark.parametrize(("channels", "mode"), [(None, "L"), (1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")])
@pytest.mark.parametrize("size", [(1, 1), (5, 3), (17, 31)])
def test_grey_rgb_rgba_round_trip(tmp_path, channels, mode, size):
    shape = size if channels is None else (*size, channels)
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    image = _decode(save_png(array, tmp_path / "x.png"))
    assert image.mode == mode
    np.testing.assert_array_equal(np.asarray(image), array.reshape(np.asarray(image).shape))


def test_zlib_fallback_writes_the_same_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(png, "_deflate_lib", zlib)
    array = np.arange(3 * 7 * 3, dtype=np.uint8).reshape(3, 7, 3)
    np.testing.assert_array_equal(np.asarray(_decode(save_png(array, tmp_path / "z.png"))), array)


def test_short_palette_accepts_only_its_indices():
    with pytest.raises(InputError, match="Index 4 is outside the 4-colour palette"):
        encode_png(np.array([[0, 4]], np.uint8), palette=np.zeros((4, 3), np.uint8))


@pytest.mark.parametrize(
    ("array", "match"),
    [(np.zeros((2, 2), np.float32), "must be uint8"), (np.zeros((2, 2, 5), np.uint8), "shape"),
     (np.zeros((0, 3), np.uint8), "shape")],
)
def test_bad_arrays_are_refused(array, match):
    with pytest.raises(InputError, match=match):
        encode_png(array)


def test_no_overwrite_refuses_and_keeps_the_file(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"user data")
    with pytest.raises(InputError, match="already exists; pass overwrite=True"):
        save_png(np.zeros((2, 2), np.uint8), target, overwrite=False)
    assert target.read_bytes() == b"user data"
    assert os.listdir(tmp_path) == ["keep.png"]  # no temp file left behind


def test_overwrite_replaces_atomically(tmp_path):
    target = tmp_path / "a.png"
    save_png(np.zeros((2, 2), np.uint8), target)
    save_png(np.full((3, 3), 9, np.uint8), target)
    assert np.asarray(_decode(target)).tolist() == [[9] * 3] * 3
    assert os.listdir(tmp_path) == ["a.png"]
