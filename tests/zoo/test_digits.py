"""The digits data preparation: upsampling against torch's bilinear, normalization literals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layerscope.errors import InputError
from layerscope.zoo import digits

from .conftest import oracle_upsample


@settings(max_examples=40, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 3), st.just(8), st.just(8)), elements=st.integers(0, 16)))
def test_upsample_matches_torch_bilinear(images):
    np.testing.assert_array_equal(digits.upsample(images), oracle_upsample(images))


def test_upsample_literals():
    ramp = np.tile(np.arange(8) * 2, (8, 1))  # 0, 2, ..., 14 across
    row = digits.upsample(ramp)[0, 10]
    assert row[:4].tolist() == [0, 0, 0, 0] and row[24:].tolist() == [0, 0, 0, 0]
    assert row[4:10].tolist() == [0, 3, 16, 29, 41, 54]  # 255/16 * (0, .2, 1, 1.8, 2.6, 3.4), rounded


def test_upsample_rounds_ties_up_exactly():
    image = np.zeros((8, 8), dtype=np.int64)
    image[:, 1], image[:, 2] = 3, 9  # output column 4 samples at x = 1.3: .7 * 3 + .3 * 9 = 4.8
    assert digits.upsample(image)[0, 14, 8] == 77  # 4.8 * 255 / 16 = 76.5 exactly


def test_upsample_rows_are_exact_tenths():
    assert digits._ROWS10.sum(1).tolist() == [10] * 20


@pytest.mark.parametrize("bad", [np.full((8, 8), 17), np.full((8, 8), 1.5), np.zeros((7, 7)), -np.ones((8, 8))])
def test_upsample_rejects_non_digits_input(bad):
    with pytest.raises(InputError, match="upsample\\(\\) takes load_digits images: 8x8 integers 0-16"):
        digits.upsample(bad)


def test_to_tensor_is_the_stated_normalization():
    x = digits.to_tensor(np.array([[[0, 51, 255]]], dtype=np.uint8))
    assert x.shape == (1, 1, 1, 3) and x.dtype == torch.float32
    assert torch.allclose(x.flatten(), torch.tensor([-1.0, -0.6, 1.0]))


def test_split_is_stratified_80_20(held_out):
    _, train_labels, _, held_labels, held_idx = digits.load_split()
    np.testing.assert_array_equal(held_idx, held_out.indices)
    assert (len(train_labels), len(held_labels)) == (1437, 360)
    assert np.bincount(held_labels).min() >= 35
