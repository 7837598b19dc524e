"""io/feed.py: one way in for inputs, the same for capture, show and diagnose."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from layerscope import Args, Preprocessing, capture, diagnose
from layerscope.errors import ImageError, InputError
from layerscope.io.feed import Feed, image_tensor

SMALL = Preprocessing(resize=8, crop=(8, 8), mean=(0.5,), std=(0.5,), channels=1)


@pytest.fixture()
def pictures(tmp_path):
    paths = []
    for index, size in enumerate([(10, 10), (12, 9), (9, 14)]):
        paths.append(str(tmp_path / f"p{index}.png"))
        Image.new("L", size, 40 * index).save(paths[-1])
    (tmp_path / "notes.txt").write_text("not an image")
    return paths


def test_a_tensor_is_split_into_batches_and_counted():
    feed = Feed(torch.zeros(5, 1, 4, 4), batch_size=2)
    assert [b.shape[0] for b in feed] == [2, 2, 1] and feed.count == 5 and feed.sources == ["<tensor>"] * 5
    assert [b.shape[0] for b in feed] == [2, 2, 1] and feed.count == 5  # iterating again starts afresh


def test_uint8_arrays_become_float_and_token_ids_stay_integers():
    (pixels,) = list(Feed(np.zeros((2, 1, 3, 3), np.uint8)))
    (ids,) = list(Feed(torch.tensor([[1, 2, 3]])))
    assert pixels.dtype == torch.float32 and ids.dtype == torch.int64


def test_a_folder_of_images_is_loaded_preprocessed_and_recorded(pictures, tmp_path):
    feed = Feed(str(tmp_path), SMALL, batch_size=2)
    batches = list(feed)
    assert [tuple(b.shape) for b in batches] == [(2, 1, 8, 8), (1, 1, 8, 8)]
    assert [r.path for r in feed.images] == pictures and feed.sources == pictures and feed.count == 3
    assert feed.images[1].original_size == (12, 9) and feed.skipped == []


def test_unreadable_files_are_skipped_unless_strict(pictures, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    feed = Feed([*pictures, str(bad)], SMALL)
    assert sum(b.shape[0] for b in feed) == 3 and feed.skipped[0][0] == str(bad)
    with pytest.raises(ImageError, match="bad.png"):
        list(Feed([*pictures, str(bad)], SMALL, strict=True))
    with pytest.raises(ImageError, match=r"None of the 1 images could be loaded"):
        list(Feed([str(bad)], SMALL))


def test_images_need_a_preprocessing():
    with pytest.raises(InputError, match="no preprocessing"):
        list(Feed(Image.new("RGB", (4, 4))))


def test_one_forward_stacks_images_or_passes_inputs_as_given(pictures):
    assert tuple(Feed(pictures, SMALL).one().shape) == (3, 1, 8, 8)
    args = Args(torch.ones(2, 3), mask=None)
    assert Feed(args).one() is args
    with pytest.raises(InputError, match="different tensor shapes"):
        Feed(pictures, Preprocessing(resize=8, crop=None, mean=(0.5,), std=(0.5,), channels=1)).one()


def test_iterables_of_batches_pairs_dicts_and_args():
    x = torch.ones(2, 1, 4, 4)
    items = [x, (x, torch.tensor([0, 1])), {"pixel_values": x, "labels": torch.zeros(2)}, Args(x, scale=2.0)]
    feed = Feed(items, batch_size=8)
    batches = list(feed)
    assert [type(b).__name__ for b in batches] == ["Tensor", "Tensor", "Tensor", "Args"] and feed.count == 8
    assert image_tensor(batches[3]) is x and image_tensor({"labels": x[:, 0], "image": x}) is x


def test_something_that_is_not_an_input_says_what_is():
    with pytest.raises(InputError, match=r"Cannot read a int as inputs"):
        list(Feed(3))
    with pytest.raises(InputError, match=r"Batch 1 of the inputs is a str"):
        list(Feed([torch.zeros(1, 1, 2, 2), "x"]))


def test_a_feed_made_with_loading_options_is_used_by_diagnose(pictures, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    feed = Feed([*pictures, str(bad)], batch_size=2)
    result = diagnose(model, feed, preprocessing=SMALL)
    assert result.inputs == 3 and result.skipped == feed.skipped == [(str(bad), feed.skipped[0][1])]
    assert feed.preprocessing is not None  # bound to the model's (here: the given) preprocessing


def test_capture_show_and_diagnose_accept_the_same_images(pictures):
    from layerscope import load_model, show

    loaded = load_model(nn.Sequential(nn.Conv2d(1, 2, 3))).with_preprocessing(size=8, mean=(0.5,), std=(0.5,))
    assert capture(loaded, pictures)["0"].shape == (3, 2, 6, 6)
    assert diagnose(loaded, pictures).inputs == 3
    assert len(show(loaded, pictures).grids) == 3
