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
    (tmp_path / "inner" / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError, match=r"holds no image files .*recursive=True"):
        find_images([tmp_path])


def test_an_imagefolder_tree_gives_its_images_in_class_order(tmp_path):
    for name in ("dog/b.png", "cat/z/deep.png", "cat/c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (2, 2)).save(tmp_path / name)
    found = find_images([tmp_path])
    assert [os.path.relpath(p, tmp_path) for p in found] == ["cat/c.png", "cat/z/deep.png", "dog/b.png"]


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
    assert skipped[0][1].startswith("not a readable image (15 bytes")  # the path is beside it, not in it
    assert "bad.png" not in skipped[0][1]


def _truncated_png(path) -> bytes:
    Image.effect_noise((64, 64), 40).save(path)
    return path.read_bytes()[:300]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: b"", "not a readable image (0 bytes; corrupt, empty or an unsupported format)"),
        (_truncated_png, "corrupt or truncated PNG file"),
    ],
    ids=["empty", "truncated"],
)
def test_skip_reasons_do_not_repeat_the_path(tmp_path, make, reason):
    (tmp_path / "x.png").write_bytes(make(tmp_path / "x.png"))
    _, skipped = load_images([tmp_path / "x.png"])
    assert skipped[0][0] == str(tmp_path / "x.png") and skipped[0][1].startswith(reason)
    with pytest.raises(ImageError, match=r"x\.png: " + reason.split(" (")[0]):  # raised alone, it names the file
        load_images([tmp_path / "x.png"], strict=True)


def test_skipped_bomb_reason_is_path_free(tmp_path):
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    _, skipped = load_images([tmp_path / "big.png"], max_pixels=5_000)
    assert skipped[0][1].startswith("100x100 = 10,000 pixels is over the limit of 5,000 - refused as a possible")


def test_load_images_strict_raises_on_first_bad_file(folder):
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageError, match=r"bad\.png"):
        load_images([folder], strict=True)


def test_load_images_mixes_paths_and_pil(folder):
    loaded, skipped = load_images([str(folder / "b.png"), Image.new("L", (2, 2))])
    assert [img.image.mode for img in loaded] == ["RGB", "L"]
    assert skipped == []
