"""Listings on disk: the ImageFolder layout numbered as torchvision numbers it, plain folders, lists of paths,
files and globs, fingerprints that follow the listing."""

from pathlib import Path

import numpy as np
import pytest
import torchvision
from PIL import Image

from layerscope.errors import ImageError, InputError
from layerscope.io.listing import list_files


def write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    return path


@pytest.fixture()
def image_folder(tmp_path):
    for name in ("dog/b.png", "dog/a.jpg", "cat/z/deep.png", "cat/c.png", "bird/x.png", "bird/sub/y.png"):
        write(tmp_path / "root" / name)
    (tmp_path / "root" / "cat" / "notes.txt").write_text("not an image")
    return tmp_path / "root"


def test_the_imagefolder_layout_is_numbered_as_torchvision_numbers_it(image_folder):
    listing = list_files([str(image_folder)])
    reference = torchvision.datasets.ImageFolder(str(image_folder))
    assert listing.kind == "imagefolder" and listing.classes == reference.classes
    assert [str(image_folder / p) for p in listing.paths] == [path for path, _ in reference.samples]
    assert listing.labels == [label for _, label in reference.samples]


def test_a_folder_with_images_on_top_is_listed_recursively_without_classes(tmp_path):
    for name in ("b.png", "a.png", "sub/c.png"):
        write(tmp_path / name)
    listing = list_files([str(tmp_path)])
    assert (listing.kind, listing.paths, listing.classes) == ("folder", ["a.png", "b.png", "sub/c.png"], None)


def test_a_list_file_names_paths_relative_to_its_folder(tmp_path):
    write(tmp_path / "imgs" / "one.png")
    write(tmp_path / "two.png")
    (tmp_path / "list.txt").write_text("# inputs\nimgs/one.png\n\n  two.png  \nmissing.png\n")
    listing = list_files([str(tmp_path / "list.txt")])
    assert (listing.kind, listing.root, listing.paths) == ("list", str(tmp_path), ["imgs/one.png", "two.png", "missing.png"])


def test_files_and_globs_keep_their_order_under_their_common_folder(tmp_path):
    a, b = write(tmp_path / "x" / "a.png"), write(tmp_path / "y" / "b.png")
    listing = list_files([str(b), str(tmp_path / "x" / "*.png")])
    assert (listing.kind, listing.root, listing.paths) == ("files", str(tmp_path), ["y/b.png", "x/a.png"])
    assert a.exists()


def test_fingerprints_follow_the_listing(image_folder):
    before = list_files([str(image_folder)]).fingerprint
    assert list_files([str(image_folder)]).fingerprint == before
    write(image_folder / "dog" / "new.png")
    assert list_files([str(image_folder)]).fingerprint != before


def test_an_empty_folder_and_an_empty_list_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="holds no image files"):
        list_files([str(tmp_path / "empty")])
    (tmp_path / "list.txt").write_text("# nothing\n")
    with pytest.raises(InputError, match="names no image; write one path a line"):
        list_files([str(tmp_path / "list.txt")])
