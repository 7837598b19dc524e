"""find_images expands files, directories and globs; load_images skips or fails on bad files."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from layerscope.errors import ImageError
from layerscope.io import find_images, load_images


@pytest.fixture()
def folder(tmp_path):
    """b.png, a.jpg, c.GIF, notes.txt, sub/d.png and a corrupt bad.png."""
    for name, fmt in (("b.png", "PNG"), ("a.jpg", "JPEG"), ("c.GIF", "GIF")):
        Image.new("RGB", (4, 4), (200, 10, 10)).save(tmp_path / name, format=fmt)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "sub" / "d.png")
    return tmp_path


def test_directory_is_sorted_and_not_recursive(folder):
    assert [os.path.basename(p) for p in find_images([folder])] == ["a.jpg", "b.png", "c.GIF"]


def test_directory_recursive(folder):
    found = find_images([str(folder)], recursive=True)
    assert [os.path.relpath(p, folder) for p in found] == ["a.jpg", "b.png", "c.GIF", os.path.join("sub", "d.png")]


def test_glob_filters_non_images(folder):
    found = find_images([str(folder / "*")])
    assert [os.path.basename(p) for p in found] == ["a.jpg", "b.png", "c.GIF"]


def test_explicit_file_kept_even_with_odd_extension(folder):
    assert find_images([str(folder / "notes.txt")]) == [str(folder / "notes.txt")]


def test_duplicates_dropped_order_kept(folder):
    found = find_images([str(folder / "b.png"), str(folder), str(folder / "b.png")])
    assert [os.path.basename(p) for p in found] == ["b.png", "a.jpg", "c.GIF"]


def test_pattern_matching_nothing_raises(folder):
    with pytest.raises(ImageError, match=r"Pattern '.*\*\.jpeg' matched nothing"):
        find_images([str(folder / "*.jpeg")])


def test_pattern_matching_only_non_images_raises(folder):
    with pytest.raises(ImageError, match=r"matched 1 paths, none an image file"):
        find_images([str(folder / "*.txt")])


def test_directory_without_images_names_recursive(tmp_path):
    (tmp_path / "inner").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "inner" / "x.png")
    with pytest.raises(ImageError, match=r"holds no image files .*recursive=True"):
        find_images([tmp_path])


def test_missing_path_raises(tmp_path):
    with pytest.raises(ImageError, match=r"ghost\.png: no such file or directory"):
        find_images([str(tmp_path / "ghost.png")])


def test_no_inputs_raises():
    with pytest.raises(ImageError, match="No images given"):
        find_images([])


def test_load_images_skips_bad_files_with_reasons(folder):
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    loaded, skipped = load_images([folder])
    assert [os.path.basename(img.path) for img in loaded] == ["a.jpg", "b.png", "c.GIF"]
    assert [os.path.basename(path) for path, _ in skipped] == ["bad.png"]
    assert "bad.png" in skipped[0][1]


def test_load_images_strict_raises_on_first_bad_file(folder):
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageError, match=r"bad\.png"):
        load_images([folder], strict=True)


def test_load_images_mixes_paths_and_pil(folder):
    loaded, skipped = load_images([str(folder / "b.png"), Image.new("L", (2, 2))])
    assert [img.image.mode for img in loaded] == ["RGB", "L"]
    assert skipped == []
