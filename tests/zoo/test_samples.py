"""Shipped sample digits, sample photos, and the sample-image writer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope.errors import InputError, MissingDependencyError, ModelSpecError
from layerscope.zoo import _registry, build_builtin, sample_inputs, sample_photo, write_sample_images

from .conftest import normalized

SAMPLES = Path(_registry.__file__).parent / "samples" / "digits.npz"


@pytest.fixture(scope="module")
def shipped():
    with np.load(SAMPLES) as data:
        return {key: data[key] for key in data.files}


def test_sample_inputs_shape_and_type():
    images, labels = sample_inputs("digits")
    assert (images.shape, images.dtype, labels.shape) == ((30, 28, 28), np.uint8, (30,))


def test_samples_are_three_per_class_cycling():
    _, labels = sample_inputs("digits")
    assert labels.tolist() == list(range(10)) * 3


def test_samples_come_from_the_held_out_split(shipped, held_out):
    assert set(shipped["indices"].tolist()) <= set(held_out.indices.tolist())


def test_sample_images_match_the_held_out_data(shipped, held_out):
    position = [held_out.indices.tolist().index(i) for i in shipped["indices"]]
    np.testing.assert_array_equal(shipped["images"], held_out.images[position])
    np.testing.assert_array_equal(shipped["labels"], held_out.labels[position])


def test_samples_have_the_mnist_layout(shipped):
    border = shipped["images"].copy()
    border[:, 4:24, 4:24] = 0
    assert not border.any() and shipped["images"].max() == 255


def test_trained_model_classifies_the_samples():
    images, labels = sample_inputs("digits")
    with torch.no_grad():
        predicted = build_builtin("digits")(normalized(images)).argmax(1).numpy()
    assert (predicted == labels).sum() >= 29


def test_sample_inputs_unknown_name():
    with pytest.raises(ModelSpecError, match="Did you mean 'digits'"):
        sample_inputs("digis")


@pytest.mark.parametrize(("name", "size"), [("astronaut", (512, 512)), ("chelsea", (451, 300)), ("coffee", (600, 400))])
def test_sample_photo(name, size):
    pytest.importorskip("skimage")
    photo = sample_photo(name)
    assert (photo.mode, photo.size) == ("RGB", size)


def test_sample_photo_unknown_name():
    with pytest.raises(InputError, match=r"unknown sample photo 'chelsey'\. Did you mean 'chelsea'\? Choose one of"):
        sample_photo("chelsey")


@pytest.fixture()
def without_skimage(monkeypatch):
    """Make ``import skimage`` fail, as on an install without the samples extra."""
    for module in [m for m in sys.modules if m == "skimage" or m.startswith("skimage.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "skimage", None)


def test_sample_photo_without_skimage_names_the_extra(without_skimage):
    with pytest.raises(MissingDependencyError, match=r"pip install 'layerscope\[samples\]'"):
        sample_photo()


def test_writer_without_skimage_writes_nothing(without_skimage, tmp_path):
    with pytest.raises(MissingDependencyError, match="samples"):
        write_sample_images(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_writer_without_skimage_writes_digits_when_no_photo_asked(without_skimage, tmp_path):
    assert len(write_sample_images(tmp_path, photos=())) == 10


def test_writer_digits_are_the_exact_model_input(tmp_path):
    paths = write_sample_images(tmp_path, count=12, photos=())
    images, labels = sample_inputs("digits")
    assert [p.name for p in paths][:2] == ["digit_00_label0.png", "digit_01_label1.png"]
    with Image.open(paths[11]) as png:
        assert (png.format, png.mode, png.size) == ("PNG", "L", (28, 28))
        np.testing.assert_array_equal(np.asarray(png), images[11])
    assert paths[11].name == f"digit_11_label{labels[11]}.png"


def test_writer_photo_is_a_jpeg(tmp_path):
    pytest.importorskip("skimage")
    paths = write_sample_images(tmp_path, count=1, photos=("coffee",))
    with Image.open(paths[-1]) as jpeg:
        assert (paths[-1].name, jpeg.format, jpeg.mode, jpeg.size) == ("coffee.jpg", "JPEG", "RGB", (600, 400))


def test_writer_creates_the_directory(tmp_path):
    assert write_sample_images(tmp_path / "a" / "b", count=1, photos=())[0].is_file()


def test_writer_refuses_to_overwrite_and_changes_nothing(tmp_path):
    (tmp_path / "digit_01_label1.png").write_bytes(b"user data")
    with pytest.raises(InputError, match=r"refusing to overwrite .*digit_01_label1\.png; .*overwrite=True"):
        write_sample_images(tmp_path, count=3, photos=())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digit_01_label1.png"]
    assert (tmp_path / "digit_01_label1.png").read_bytes() == b"user data"


def test_writer_overwrites_when_asked(tmp_path):
    (tmp_path / "digit_00_label0.png").write_bytes(b"old")
    write_sample_images(tmp_path, count=1, photos=(), overwrite=True)
    with Image.open(tmp_path / "digit_00_label0.png") as png:
        assert png.size == (28, 28)


def test_writer_leaves_no_temp_files(tmp_path):
    write_sample_images(tmp_path, count=2, photos=())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digit_00_label0.png", "digit_01_label1.png"]


@pytest.mark.parametrize("count", [-1, 31, 2.0, True])
def test_writer_rejects_bad_count(tmp_path, count):
    with pytest.raises(InputError, match=rf"count={count!r} is out of range; choose an integer from 0 to 30"):
        write_sample_images(tmp_path, count=count, photos=())


def test_writer_rejects_a_file_as_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is not a directory"):
        write_sample_images(tmp_path / "file", photos=())
